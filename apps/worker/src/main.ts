import { runMain, WORKER_FEATURES } from '#runtime';

await runMain('worker', WORKER_FEATURES);
