export * from './health.service.js';
export * from './logger.js';
export * from './metrics.service.js';
export * from './observability.module.js';
