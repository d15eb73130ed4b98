export * from './rules/index.js';
export * from './notifications/index.js';
export * from './engine/index.js';
