import { Global, Module } from '@nestjs/common';
import { BrokerModule } from '#broker';
import { IngestModule } from '#ingest';
import { COMMAND_CLOCK, systemCommandClock } from './command-clock.js';
import { COMMAND_DISPATCH } from './command-dispatch.port.js';
import { CommandDispatcher } from './command-dispatcher.service.js';
import { CommandsRepository } from './commands.repository.js';
import { CommandsService } from './commands.service.js';

/** The ledger itself: repository, clock, create/cancel. Global so the API and campaigns share one. */
@Global()
@Module({
  providers: [CommandsRepository, CommandsService, { provide: COMMAND_CLOCK, useValue: systemCommandClock }],
  exports: [CommandsRepository, CommandsService, COMMAND_CLOCK],
})
export class CommandsCoreModule {}

/**
 * The gateway side (with the broker): dispatch, ack routing, the sweep. Global for one export,
 * COMMAND_DISPATCH, so commands created in this process go out at once (as LIVE_SESSIONS).
 */
@Global()
@Module({
  imports: [CommandsCoreModule, BrokerModule, IngestModule],
  providers: [CommandDispatcher, { provide: COMMAND_DISPATCH, useExisting: CommandDispatcher }],
  exports: [COMMAND_DISPATCH, CommandDispatcher],
})
export class CommandsGatewayModule {}
