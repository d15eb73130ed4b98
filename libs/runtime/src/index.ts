export * from './app-factory.js';
export * from './compositions.js';
export * from './run-main.js';
