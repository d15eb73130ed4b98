export * from './topics.js';
export * from './heartbeat.schema.js';
export * from './presence.schema.js';
export * from './command.schema.js';
export * from './validation.js';
export * from './provisioning.js';
export * from './domain-exception.js';
export * from './firmware-version.js';
