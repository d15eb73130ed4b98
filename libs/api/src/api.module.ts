import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, type AppConfig } from '#config';
import { AdminTokenGuard, TerminalsModule } from '#terminals';
import { AuditController } from './audit/audit.controller.js';
import { AuditRepository } from './audit/audit.repository.js';
import { AuditService } from './audit/audit.service.js';
import { ApiAuthGuard } from './auth/api-auth.guard.js';
import { BootstrapController } from './auth/bootstrap.controller.js';
import { BootstrapService } from './auth/bootstrap.service.js';
import { ApiKeyController } from './auth/api-key.controller.js';
import { ApiKeyRepository } from './auth/api-key.repository.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { KeyThrottlerGuard } from './auth/key-throttler.guard.js';
import { ApiExceptionFilter } from './common/api-exception.filter.js';
import { FleetSummaryRepository } from './fleet/fleet-summary.repository.js';
import { FleetSummaryController } from './fleet/fleet.controller.js';
import { FleetService } from './fleet/fleet.service.js';
import { ProviderController } from './providers/provider.controller.js';
import { ProviderRepository } from './providers/provider.repository.js';
import { ProviderService } from './providers/provider.service.js';
import { CsvBodyParser } from './terminals/csv-body-parser.js';
import { LiveSessions } from './terminals/live-sessions.js';
import { TelemetryRepository } from './terminals/telemetry.repository.js';
import { TerminalViewRepository } from './terminals/terminal-view.repository.js';
import { TerminalController } from './terminals/terminal.controller.js';
import { TerminalService } from './terminals/terminal.service.js';

/** The fleet REST API (/v1): providers, terminals, API keys, audit. */
@Module({
  imports: [
    TerminalsModule,
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => [{ name: 'per-key', ttl: 60_000, limit: config.api.rateLimitPerMinute }],
    }),
  ],
  controllers: [BootstrapController, ProviderController, ApiKeyController, AuditController, TerminalController, FleetSummaryController],
  providers: [
    ApiKeyRepository,
    BootstrapService,
    AdminTokenGuard,
    ApiKeyService,
    ApiAuthGuard,
    KeyThrottlerGuard,
    ApiExceptionFilter,
    AuditRepository,
    AuditService,
    ProviderRepository,
    ProviderService,
    TerminalViewRepository,
    TelemetryRepository,
    TerminalService,
    LiveSessions,
    CsvBodyParser,
    FleetSummaryRepository,
    FleetService,
  ],
  exports: [ApiKeyService, AuditService, ProviderService, ProviderRepository],
})
export class ApiModule {}
