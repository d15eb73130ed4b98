import type { PGlite } from '@electric-sql/pglite';

/** Splits a byte stream into whole Postgres frontend messages (see pglite-wire-server.mjs). */
export declare class FrontendMessageFramer {
  push(chunk: Buffer): { startup: boolean; bytes: Buffer }[];
}

/** Serves a PGlite instance over the Postgres wire protocol, one client connection at a time. */
export declare class PgliteWireServer {
  constructor(db: PGlite, onError?: (err: unknown) => void, options?: { callTimeoutMs?: number; onStuck?: (detail: string) => void });
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}
