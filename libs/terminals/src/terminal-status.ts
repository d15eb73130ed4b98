/** Status of a terminal or a broker service account (the CHECK on both tables in migration 0001). */
export const TerminalStatus = { Active: 'active', Disabled: 'disabled' } as const;
export type TerminalStatus = (typeof TerminalStatus)[keyof typeof TerminalStatus];
