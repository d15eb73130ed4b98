export * from './campaign.types.js';
export * from './campaigns.repository.js';
export * from './campaigns.service.js';
export * from './campaign-metrics.js';
export * from './campaign-runner.service.js';
export * from './campaigns.module.js';
