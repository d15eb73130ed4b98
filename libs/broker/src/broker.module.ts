import { Module } from '@nestjs/common';
import { IngestModule } from '#ingest';
import { TerminalsModule } from '#terminals';
import { BrokerService } from './broker.service.js';
import { MqttAuthService } from './mqtt-auth.service.js';

@Module({
  imports: [TerminalsModule, IngestModule],
  providers: [MqttAuthService, BrokerService],
  exports: [BrokerService, MqttAuthService],
})
export class BrokerModule {}
