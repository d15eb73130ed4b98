import { GATEWAY, runMain } from '#runtime';

await runMain('gateway', GATEWAY);
