/**
 * A stored snapshot block ends after this many rows. Pages are sliced from blocks, so this only
 * trades create cost (fewer, larger blocks) against the bytes read for a small page.
 */
export const SNAPSHOT_BLOCK_MAX_ROWS = 1000;

/** …or once it holds this many bytes of wire JSON (plus the row that crossed the line). */
export const SNAPSHOT_BLOCK_MAX_BYTES = 4 * 1024 * 1024;
