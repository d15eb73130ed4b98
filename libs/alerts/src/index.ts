export * from './rules/rule.types.js';
export * from './engine/index.js';
