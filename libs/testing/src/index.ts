export * from './mqtt-helpers.js';
export * from './test-database.js';
export * from './test-gateway.js';
export * from './tcp-proxy.js';
export * from './api-helpers.js';
