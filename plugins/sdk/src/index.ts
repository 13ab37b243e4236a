export * from './errors.js';
export * from './model.js';
export * from './batch.js';
export * from './schema.js';
export * from './plugin.js';
export * from './config-file.js';
export * from './timing.js';
export * from './simulation.js';
