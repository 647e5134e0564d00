export * from './client-error-codes.js';
export * from './oversync-client.error.js';
export * from './database.errors.js';
export * from './lifecycle.errors.js';
export * from './sync.errors.js';
export * from './transport.errors.js';
