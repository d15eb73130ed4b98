/**
 * Hands a just-created command to the gateway of the same process (provided where the gateway
 * composition runs; inject with @Optional()). Other processes learn of it by NOTIFY or the sweep.
 */
export interface CommandDispatchPort {
  created(id: string, sn: string): void;
}

export const COMMAND_DISPATCH = Symbol('CommandDispatchPort');
