export * from './rules/index.js';
export * from './engine/index.js';
