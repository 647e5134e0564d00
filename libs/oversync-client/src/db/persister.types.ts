/**
 * Durable storage for the exported sql.js database image.
 *
 * The client calls `save` after every state change it acknowledges (freeze, commit, replay,
 * checkpoint, recovery) before the corresponding call resolves, and in a debounced way after app
 * writes. Implementations must make `save` atomic: after a crash `load` returns either the previous
 * or the new image, never a mix.
 */
export interface OversyncPersister {
  /**
   * A stable name for this storage location. It doubles as the ownership lock name (Web Locks /
   * in-process registry) so two clients never write the same image.
   */
  readonly lockName?: string;
  /** Reads the last saved image, or `null` when nothing was saved yet. */
  load(): Promise<Uint8Array | null>;
  /** Durably replaces the saved image; resolves once the bytes are safe. */
  save(image: Uint8Array): Promise<void>;
  /** Removes the saved image. */
  clear(): Promise<void>;
}
