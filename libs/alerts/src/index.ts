export * from './rules/index.js';
export * from './notifications/index.js';
