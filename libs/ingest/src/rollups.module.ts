import { Module } from '@nestjs/common';
import { RollupRefreshRepository } from './rollup-refresh.repository.js';
import { RollupRefreshService } from './rollup-refresh.service.js';

/** Worker side of the rollups (migration 0012): refreshes heartbeat rollups and the fleet summary snapshot. */
@Module({ providers: [RollupRefreshRepository, RollupRefreshService], exports: [RollupRefreshService] })
export class RollupsModule {}
