import { ProviderEntity } from './provider.entity.js';
import { TerminalEntity } from './terminal.entity.js';

export * from './provider.entity.js';
export * from './terminal.entity.js';

export const ENTITIES = [ProviderEntity, TerminalEntity];
