import { Module } from '@nestjs/common';
import type { EntityList } from '#db';
import { OtaModule } from '#ota';
import { AdminTokenGuard, TerminalsModule } from '#terminals';
import { CampaignsCoreModule } from '#campaigns';
import { CommandsCoreModule, HeartbeatDefaultsCoreModule } from '#commands';
import { AlertSettingsRepository } from './alert-settings/alert-settings.repository.js';
import { AlertDefaultsController, ProviderAlertSettingsController } from './alert-settings/alert-settings.controller.js';
import { AlertSettingsService } from './alert-settings/alert-settings.service.js';
import { AlertController, TerminalAlertsController } from './alerts/alert.controller.js';
import { AlertRepository } from './alerts/alert.repository.js';
import { AlertService } from './alerts/alert.service.js';
import { AuditController } from './audit/audit.controller.js';
import { AuditRepository } from './audit/audit.repository.js';
import { AuditService } from './audit/audit.service.js';
import { RenewalDigestRepository, ChannelSender } from '#alerts';
import { ApiAuthGuard } from './auth/api-auth.guard.js';
import { BootstrapController } from './auth/bootstrap.controller.js';
import { BootstrapService } from './auth/bootstrap.service.js';
import { ApiKeyController } from './auth/api-key.controller.js';
import { ApiKeyEntity } from './auth/api-key.entity.js';
import { ApiKeyRepository } from './auth/api-key.repository.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { KeyRateLimitGuard } from './auth/key-rate-limit.guard.js';
import { CampaignApiService } from './campaigns/campaign-api.service.js';
import { CampaignController } from './campaigns/campaign.controller.js';
import { CommandApiService } from './commands/command-api.service.js';
import { CommandController, TerminalCommandController } from './commands/command.controller.js';
import { DeadLetterViewRepository } from './dead-letters/dead-letter-view.repository.js';
import { DeadLetterController } from './dead-letters/dead-letter.controller.js';
import { FleetSummaryRepository } from './fleet/fleet-summary.repository.js';
import { FleetSummaryController } from './fleet/fleet.controller.js';
import { FleetService } from './fleet/fleet.service.js';
import { NotificationChannelsController } from './notifications/notification-channels.controller.js';
import { NotificationDeliveriesController, RenewalDigestController } from './notifications/notification-deliveries.controller.js';
import { NotificationSubscriptionsController } from './notifications/notification-subscriptions.controller.js';
import { NotificationsApiService } from './notifications/notifications-api.service.js';
import { NotificationsRepository } from './notifications/notifications.repository.js';
import { ProviderController } from './providers/provider.controller.js';
import { ProviderEntity } from './providers/provider.entity.js';
import { ProviderRepository } from './providers/provider.repository.js';
import { ProviderService } from './providers/provider.service.js';
import { ArtifactBodyParser } from './releases/artifact-body-parser.js';
import { ArtifactDownloadController } from './releases/artifact-download.controller.js';
import { ReleaseController } from './releases/release.controller.js';
import { ReleaseService } from './releases/release.service.js';
import { CsvBodyParser } from './terminals/csv-body-parser.js';
import { TelemetryRepository } from './terminals/telemetry.repository.js';
import { TerminalViewRepository } from './terminals/terminal-view.repository.js';
import { TerminalController } from './terminals/terminal.controller.js';
import { TerminalService } from './terminals/terminal.service.js';
import { OpsAdminGuard } from './version-policies/ops-admin.guard.js';
import { VersionPolicyController } from './version-policies/version-policy.controller.js';
import { VersionPolicyRepository } from './version-policies/version-policy.repository.js';
import { VersionPolicyService } from './version-policies/version-policy.service.js';
import { HeartbeatDefaultsController, TerminalHeartbeatIntervalController } from './heartbeat-defaults/heartbeat-defaults.controller.js';
import { HeartbeatDefaultsService } from './heartbeat-defaults/heartbeat-defaults.service.js';

/**
 * The tables ApiModule maps with TypeORM: the CRUD-shaped ones. A composition that includes the
 * module hands these to the DataSource; hot paths and TimescaleDB queries stay plain SQL.
 */
export const API_ENTITIES: EntityList = [ProviderEntity, ApiKeyEntity];

/**
 * The fleet REST API (/v1): providers, terminals, API keys, audit, dead letters, alerts, version policies, alert settings,
 * notifications, OTA releases and campaigns; and terminals' artifact downloads (/ota/v1, signed URLs, no API key).
 */
@Module({
  imports: [TerminalsModule, CommandsCoreModule, HeartbeatDefaultsCoreModule, OtaModule, CampaignsCoreModule],
  controllers: [
    BootstrapController,
    ProviderController,
    ApiKeyController,
    AuditController,
    TerminalController,
    FleetSummaryController,
    TerminalCommandController,
    CommandController,
    AlertController,
    TerminalAlertsController,
    VersionPolicyController,
    AlertDefaultsController,
    ProviderAlertSettingsController,
    NotificationChannelsController,
    NotificationSubscriptionsController,
    NotificationDeliveriesController,
    RenewalDigestController,
    DeadLetterController,
    ReleaseController,
    ArtifactDownloadController,
    CampaignController,
    HeartbeatDefaultsController,
    TerminalHeartbeatIntervalController,
  ],
  providers: [
    ApiKeyRepository,
    BootstrapService,
    AdminTokenGuard,
    ApiKeyService,
    ApiAuthGuard,
    KeyRateLimitGuard,
    AuditRepository,
    AuditService,
    ProviderRepository,
    ProviderService,
    TerminalViewRepository,
    TelemetryRepository,
    TerminalService,
    CsvBodyParser,
    FleetSummaryRepository,
    FleetService,
    CommandApiService,
    NotificationsRepository,
    NotificationsApiService,
    RenewalDigestRepository,
    ChannelSender,
    DeadLetterViewRepository,
    AlertRepository,
    AlertService,
    VersionPolicyRepository,
    VersionPolicyService,
    OpsAdminGuard,
    AlertSettingsRepository,
    AlertSettingsService,
    ReleaseService,
    ArtifactBodyParser,
    CampaignApiService,
    HeartbeatDefaultsService,
  ],
  exports: [ApiKeyService, AuditService, ProviderService, ProviderRepository],
})
export class ApiModule {}
