export * from './rules/rule.types.js';
