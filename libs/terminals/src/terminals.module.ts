import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { CredentialHasher } from './credential-hasher.js';
import { TerminalRegistryService } from './terminal-registry.service.js';
import { TerminalRepository } from './terminal.repository.js';

@Module({
  providers: [
    TerminalRepository,
    TerminalRegistryService,
    {
      provide: CredentialHasher,
      useFactory: (config: AppConfig) => {
        if (!config.auth.pepper) throw new Error('CREDENTIAL_PEPPER is not configured');
        return new CredentialHasher(config.auth.pepper);
      },
      inject: [APP_CONFIG],
    },
  ],
  exports: [TerminalRepository, TerminalRegistryService, CredentialHasher],
})
export class TerminalsModule {}
