/** Query of `GET /sync/watch`. */
export interface WatchQuery {
  /** The client's checkpoint; an immediate catch-up event is sent when the user is ahead. Default 0. */
  after_bundle_seq?: number;
}

/**
 * The JSON `data` of an `event: bundle` SSE message: a wake-up hint; data is always fetched with
 * `/sync/pull`. Catch-up events carry only `bundle_seq`; live events also carry the source.
 */
export interface WatchEvent {
  /** Latest committed `bundle_seq`; always > 0. */
  bundle_seq: number;
  /** The committing source; omitempty. */
  source_id?: string;
  /** The committing source's bundle id; omitempty. */
  source_bundle_id?: number;
}

/** The SSE event name of watch events. */
export const WATCH_EVENT_NAME = 'bundle';

/** The heartbeat frame the server writes every 25 s by default (an SSE comment plus blank line). */
export const WATCH_HEARTBEAT_FRAME = ': heartbeat\n\n';
