import { Global, Module } from '@nestjs/common';
import { IngestModule } from '#ingest';
import { LIVE_SESSIONS, TerminalsModule } from '#terminals';
import { BrokerService } from './broker.service.js';
import { GatewaySessionService } from './gateway-session.service.js';
import { MqttAuthService } from './mqtt-auth.service.js';

/**
 * Global for one export only: LIVE_SESSIONS, so the API module in the same process reaches the
 * broker's sessions without importing this module (a process without the broker has none).
 */
@Global()
@Module({
  imports: [TerminalsModule, IngestModule],
  providers: [MqttAuthService, GatewaySessionService, BrokerService, { provide: LIVE_SESSIONS, useExisting: BrokerService }],
  // BrokerService: for the command ledger of the same process (publish, sessions, ack routing).
  exports: [LIVE_SESSIONS, BrokerService],
})
export class BrokerModule {}
