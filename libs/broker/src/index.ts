export * from './auth-record-loader.js';
export * from './broker.module.js';
export * from './broker.service.js';
export * from './gateway-session.service.js';
export * from './mqtt-auth.service.js';
export * from './mqtt-identity.js';
export * from './topic-acl.js';
