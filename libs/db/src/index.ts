export * from './data-source.js';
export * from './database-mode.js';
export * from './database.module.js';
export * from './embedded-database.js';
export * from './errors.js';
export * from './migrator.js';
export * from './terminal-fields.js';
export * from './timeseries.repository.js';
