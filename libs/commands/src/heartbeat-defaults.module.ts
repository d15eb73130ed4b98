import { Module } from '@nestjs/common';
import { CommandsCoreModule } from './commands.module.js';
import { HeartbeatDefaultsRepository } from './heartbeat-defaults.repository.js';
import { HeartbeatIntervalReconciler } from './heartbeat-interval-reconciler.service.js';

/** Default heartbeat intervals: the stored defaults (the API reads and writes them). */
@Module({
  imports: [CommandsCoreModule],
  providers: [HeartbeatDefaultsRepository],
  exports: [HeartbeatDefaultsRepository],
})
export class HeartbeatDefaultsCoreModule {}

/** The worker side: the reconcile pass that queues set_heartbeat_interval where terminals differ. */
@Module({
  imports: [HeartbeatDefaultsCoreModule],
  providers: [HeartbeatIntervalReconciler],
  exports: [HeartbeatIntervalReconciler],
})
export class HeartbeatDefaultsWorkerModule {}
