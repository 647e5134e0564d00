/**
 * Durable storage for the exported sql.js database image.
 *
 * The client calls `save` after every state change it acknowledges (freeze, commit, replay,
 * checkpoint, recovery) before the corresponding call resolves, and in a debounced way after app
 * writes. Implementations must make `save` atomic: after a crash `load` returns either the previous
 * or the new image, never a mix.
 *
 * `knownRevision` and `storedRevision` are optional and go together: with them, `open()` refuses
 * (`stale_image`) a database built from an image that another tab or process replaced before this
 * client took the ownership lock. A persister without them is never checked.
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
  /**
   * The revision of the image this instance last loaded, saved or cleared, read synchronously
   * (the client records it when it is constructed, right after the app loaded the image).
   *
   * @returns an opaque revision; `null` for no image or one saved without a revision (an earlier
   *   build); `undefined` before this instance's first load, save or clear (nothing to compare).
   */
  knownRevision?(): string | null | undefined;
  /**
   * Reads the revision of the image stored now, in the same terms as `knownRevision`. Every
   * successful `save` or `clear` must change it.
   */
  storedRevision?(): Promise<string | null>;
  /**
   * Releases what the persister holds open between calls (an IndexedDB connection). Called by
   * `OversyncClient.close()`; the persister stays usable and reopens on its next call.
   */
  release?(): void;
}
