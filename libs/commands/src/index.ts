export * from './command-clock.js';
export * from './command-dispatch.port.js';
export * from './command-dispatcher.service.js';
export * from './command-state.js';
export * from './commands.module.js';
export * from './commands.repository.js';
export * from './commands.service.js';
