import { GATEWAY_FEATURES, runMain } from '#runtime';

await runMain('gateway', GATEWAY_FEATURES);
