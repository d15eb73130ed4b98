// tsc compiles TypeScript only; SQL migrations ship beside the compiled migrator.
import { cpSync } from 'node:fs';
cpSync('libs/db/src/migrations', 'dist/libs/db/src/migrations', { recursive: true });
