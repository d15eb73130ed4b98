export * from './rules/rule.types.js';
export * from './notifications/index.js';
