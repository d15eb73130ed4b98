import type { DynamicModule, Type } from '@nestjs/common';
import { BrokerModule } from '#broker';
import { MaintenanceModule } from '#ingest';
import { EnrolmentModule } from '#terminals';

/** MQTT broker with auth, ACL, presence and heartbeat ingest, plus operator enrolment. */
export const GATEWAY_FEATURES: readonly (Type | DynamicModule)[] = [BrokerModule, EnrolmentModule];

/** Background work: Timescale jobs where the database has no workers, retention, trimming. */
export const WORKER_FEATURES: readonly (Type | DynamicModule)[] = [MaintenanceModule];

/** `npm start`: everything in one process on embedded defaults. */
export const SINGLE_PROCESS_FEATURES: readonly (Type | DynamicModule)[] = [...GATEWAY_FEATURES, ...WORKER_FEATURES];
