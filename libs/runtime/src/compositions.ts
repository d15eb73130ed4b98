import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { AlertsModule, NotificationsModule } from '#alerts';
import { API_ENTITIES, ApiModule, mountApiDocs } from '#api';
import { BrokerModule } from '#broker';
import { CampaignsWorkerModule } from '#campaigns';
import { CommandsGatewayModule, HeartbeatDefaultsWorkerModule } from '#commands';
import type { EntityList } from '#db';
import { MaintenanceModule, RollupsModule } from '#ingest';
import { EnrolmentModule } from '#terminals';

/** The feature modules of one process, plus what must be mounted on the app before it listens. */
export interface Composition {
  features: readonly (Type | DynamicModule)[];
  /** TypeORM entities the features use; the DataSource is built with exactly these. */
  entities?: EntityList;
  setup?: (app: INestApplication) => void;
}

/** MQTT broker with auth, ACL, presence and heartbeat ingest, command dispatch, plus operator enrolment. */
export const GATEWAY: Composition = { features: [BrokerModule, CommandsGatewayModule, EnrolmentModule] };

/**
 * Background work: Timescale jobs where the database has no workers, retention, trimming; rollup and
 * fleet summary refresh; alert evaluation and notifications; OTA campaign runner; default heartbeat
 * intervals enforced through the command ledger.
 */
export const WORKER: Composition = {
  features: [MaintenanceModule, RollupsModule, AlertsModule, NotificationsModule, CampaignsWorkerModule, HeartbeatDefaultsWorkerModule],
};

/** The fleet REST API with its OpenAPI docs. */
export const API: Composition = { features: [ApiModule], entities: API_ENTITIES, setup: mountApiDocs };

/** `npm start`: everything in one process on embedded defaults. */
export const SINGLE_PROCESS: Composition = {
  features: [...GATEWAY.features, ...WORKER.features, ...API.features],
  entities: [GATEWAY, WORKER, API].flatMap((c) => c.entities ?? []),
  setup: (app) => {
    GATEWAY.setup?.(app);
    WORKER.setup?.(app);
    API.setup?.(app);
  },
};
