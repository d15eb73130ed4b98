export * from './rules/index.js';
export * from './notifications/index.js';
export * from './engine/index.js';
export * from './outbox-signal.js';
