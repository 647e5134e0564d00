/** Internal tokens and metadata keys; never re-exported from the package barrel. */
export const OVERSYNC_DATABASE = Symbol('oversync:database');
export const OVERSYNC_RESOLVED_OPTIONS = Symbol('oversync:resolved_options');
export const SCOPE_WRITE_METADATA = 'oversync:scope_write';
