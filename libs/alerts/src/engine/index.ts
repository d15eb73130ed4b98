export * from './alert-engine.repository.js';
export * from './alert-evaluator.service.js';
export * from './alert-ledger.js';
export * from './alert-metrics.js';
export * from './alert-rules.port.js';
export * from './alert-sweep.service.js';
export * from './alerts.module.js';
export * from './clock.js';
