import { OversyncError, type OversyncErrorDetails } from './oversync.error.js';

/** A module option is missing or invalid; raised once at start-up, naming the field and the fix. */
export class OversyncConfigError extends OversyncError {
  constructor(message: string, details: OversyncErrorDetails = {}) {
    super('oversync_config_invalid', message, details);
  }
}

/** A registered table (or the existing `sync` schema) has a shape the engine cannot sync safely. */
export class UnsupportedSchemaError extends OversyncError {
  constructor(message: string, details: { table: string; rule: string; fix: string }) {
    super('oversync_unsupported_schema', message, details);
  }
}
