import { WORKER, runMain } from '#runtime';

await runMain('worker', WORKER);
