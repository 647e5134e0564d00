import { StaleImageError } from '../errors/lifecycle.errors.js';
import { type OversyncPersister } from './persister.types.js';

/**
 * Refuses a database built from an image that was replaced since: call it with the ownership lock
 * held (so no other client can save from here on) and before the first save.
 *
 * The check is skipped when the persister keeps no revisions, or when the revision at load time is
 * unknown (`undefined`: the app built `db` without loading through this persister instance). An
 * image saved by an earlier build has the revision `null` (or an "unversioned" marker), which
 * stays equal until someone saves again: such images open as before.
 *
 * @param loadedRevision - `persistence.knownRevision()` when the client was constructed.
 * @throws StaleImageError when the stored revision differs from `loadedRevision`.
 */
export async function assertImageUnchanged(
  persistence: OversyncPersister | undefined,
  loadedRevision: string | null | undefined,
  label: string,
): Promise<void> {
  if (!persistence?.storedRevision || loadedRevision === undefined) return;
  const stored = await persistence.storedRevision();
  if (stored !== loadedRevision) throw new StaleImageError(label, loadedRevision, stored);
}
