import type { Database } from 'sql.js';

import { DatabaseLockedError } from '../errors/lifecycle.errors.js';

/** A held ownership claim; `release()` is idempotent. */
export interface OwnershipLease {
  release(): void;
}

interface LockManagerLike {
  request(
    name: string,
    options: { ifAvailable: boolean; mode?: 'exclusive' },
    callback: (lock: unknown) => Promise<void> | void,
  ): Promise<unknown>;
}

// In-process registries: one live client per Database object and per lock name.
const ownedDatabases = new WeakSet<Database>();
const ownedNames = new Set<string>();

function lockManager(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks && typeof nav.locks.request === 'function' ? nav.locks : undefined;
}

async function acquireWebLock(locks: LockManagerLike, name: string): Promise<(() => void) | null> {
  let releaseHeld!: () => void;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));
  return new Promise<(() => void) | null>((resolve, reject) => {
    locks
      .request(name, { ifAvailable: true, mode: 'exclusive' }, (lock) => {
        if (lock === null) {
          resolve(null);
          return undefined;
        }
        resolve(releaseHeld);
        // Holding the returned promise keeps the lock until release.
        return held;
      })
      .catch(reject);
  });
}

/**
 * Claims exclusive ownership of `db` (always, in-process) and of `lockName` (in-process and, when
 * the Web Locks API exists, across tabs and workers).
 *
 * @throws DatabaseLockedError when another live client owns either.
 */
export async function acquireOwnership(db: Database, lockName: string | undefined): Promise<OwnershipLease> {
  const label = lockName ?? 'in-memory database';
  if (ownedDatabases.has(db) || (lockName !== undefined && ownedNames.has(lockName))) {
    throw new DatabaseLockedError(label);
  }
  ownedDatabases.add(db);
  if (lockName !== undefined) ownedNames.add(lockName);
  let webRelease: (() => void) | null = null;
  const releaseLocal = (): void => {
    ownedDatabases.delete(db);
    if (lockName !== undefined) ownedNames.delete(lockName);
  };
  const locks = lockManager();
  if (locks && lockName !== undefined) {
    try {
      webRelease = await acquireWebLock(locks, `oversync:${lockName}`);
    } catch (error) {
      releaseLocal();
      throw error;
    }
    if (webRelease === null) {
      releaseLocal();
      throw new DatabaseLockedError(label);
    }
  }
  let released = false;
  return {
    release(): void {
      if (released) return;
      released = true;
      releaseLocal();
      webRelease?.();
    },
  };
}
