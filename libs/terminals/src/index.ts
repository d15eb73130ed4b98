export * from './credential-hasher.js';
export * from './terminal.errors.js';
export * from './terminal.repository.js';
export * from './terminal-registry.service.js';
export * from './terminals.module.js';
export * from './admin-token.guard.js';
export * from './enrolment.module.js';
export * from './live-sessions.port.js';
