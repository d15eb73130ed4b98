/** The ledger's time source: every deadline and timestamp of a command comes from it (tests replace it). */
export interface CommandClock {
  now(): Date;
}

export const COMMAND_CLOCK = Symbol('CommandClock');

export const systemCommandClock: CommandClock = { now: () => new Date() };
