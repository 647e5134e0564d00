/** The trusted actor of a sync request: user from the host's auth, source from the header. */
export interface SyncRequestActor {
  userId: string;
  sourceId: string;
}

/** Fields Oversync attaches to the Express request. */
export interface OversyncRequestState {
  oversyncActor?: SyncRequestActor;
  oversyncRoute?: { failure: string; failureMessage: string; invalid: string };
  /** Set by the body middleware instead of failing, so the guard can answer in the route's terms. */
  oversyncBodyError?: { tooLarge: boolean; message: string };
  /** True when the body middleware found no body at all. */
  oversyncEmptyBody?: boolean;
}
