import { API, runMain } from '#runtime';

await runMain('api', API);
