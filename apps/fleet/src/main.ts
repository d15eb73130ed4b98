import { SINGLE_PROCESS, runMain } from '#runtime';

await runMain('fleet', SINGLE_PROCESS);
