/** Which storage flavour the connected database gives us. */
export const DatabaseFlavor = {
  Timescale: 'timescale',
  Plain: 'plain',
} as const;
export type DatabaseFlavor = (typeof DatabaseFlavor)[keyof typeof DatabaseFlavor];

export interface DatabaseInfo {
  flavor: DatabaseFlavor;
  /** True when this process runs the embedded PGlite database (no background workers). */
  embedded: boolean;
}

export const DATABASE_INFO = Symbol('DATABASE_INFO');
