/**
 * Layout marker of the `sync` schema this library creates. It differs from go-oversync's
 * (`server_postgres_sync_v1`) on purpose: our capture triggers are statement-level and our helper
 * functions differ, so a Go server must refuse our schema (and we refuse theirs) instead of mixing
 * two capture mechanisms on one database. The wire protocol is unaffected.
 */
export const SYNC_LAYOUT = Object.freeze({ protocolLabel: 'v1', layoutName: 'oversync_nestjs_postgres_v1' });

/** `pg_advisory_xact_lock` key that serialises bootstraps: the ASCII bytes of "oversync". */
export const BOOTSTRAP_LOCK_KEY = '8031170836133490275'; // 0x6f76657273796e63

/** Names of the per-table triggers (dropped and re-created on every bootstrap). */
export const TRIGGER_NAMES = Object.freeze({
  ownerGuard: 'oversync_owner_guard',
  ownerMutationGuard: 'oversync_owner_mutation_guard',
  captureInsert: 'oversync_capture_insert',
  captureUpdate: 'oversync_capture_update',
  captureDelete: 'oversync_capture_delete',
  blockTruncate: 'oversync_block_truncate',
});

/** Custom SQLSTATEs raised by our triggers, so errors map to typed exceptions. */
export const SQLSTATE = Object.freeze({
  noBundleContext: 'OV001',
  scopeViolation: 'OV002',
  truncateBlocked: 'OV003',
  conflictingContext: 'OV004',
});
