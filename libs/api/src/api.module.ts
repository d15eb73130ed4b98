import { Module } from '@nestjs/common';
import type { EntityList } from '#db';
import { OtaModule } from '#ota';
import { AdminTokenGuard, TerminalsModule } from '#terminals';
import { AuditController } from './audit/audit.controller.js';
import { AuditRepository } from './audit/audit.repository.js';
import { AuditService } from './audit/audit.service.js';
import { ApiAuthGuard } from './auth/api-auth.guard.js';
import { BootstrapController } from './auth/bootstrap.controller.js';
import { BootstrapService } from './auth/bootstrap.service.js';
import { ApiKeyController } from './auth/api-key.controller.js';
import { ApiKeyEntity } from './auth/api-key.entity.js';
import { ApiKeyRepository } from './auth/api-key.repository.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { KeyRateLimitGuard } from './auth/key-rate-limit.guard.js';
import { FleetSummaryRepository } from './fleet/fleet-summary.repository.js';
import { FleetSummaryController } from './fleet/fleet.controller.js';
import { FleetService } from './fleet/fleet.service.js';
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

/**
 * The tables ApiModule maps with TypeORM: the CRUD-shaped ones. A composition that includes the
 * module hands these to the DataSource; hot paths and TimescaleDB queries stay plain SQL.
 */
export const API_ENTITIES: EntityList = [ProviderEntity, ApiKeyEntity];

/** The fleet REST API (/v1): providers, terminals, API keys, audit, OTA releases; and terminals' artifact downloads (/ota/v1). */
@Module({
  imports: [TerminalsModule, OtaModule],
  controllers: [
    BootstrapController,
    ProviderController,
    ApiKeyController,
    AuditController,
    TerminalController,
    FleetSummaryController,
    ReleaseController,
    ArtifactDownloadController,
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
    ReleaseService,
    ArtifactBodyParser,
  ],
  exports: [ApiKeyService, AuditService, ProviderService, ProviderRepository],
})
export class ApiModule {}
