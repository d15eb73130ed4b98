import { runMain, SINGLE_PROCESS_FEATURES } from '#runtime';

await runMain('fleet', SINGLE_PROCESS_FEATURES);
