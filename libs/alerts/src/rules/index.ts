export * from './rule.types.js';
export * from './alert-thresholds.js';
