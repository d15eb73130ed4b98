export * from './api.module.js';
export * from './auth/api-key.service.js';
export * from './auth/roles.js';
export * from './openapi-document.js';
export * from './auth/api-key.repository.js';
export * from './auth/bootstrap.service.js';
export * from './auth/bootstrap.controller.js';
export { MAX_PROVIDER_DEPTH } from './providers/provider.service.js';
export * from './common/http-edge.js';
