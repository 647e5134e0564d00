import type { Database } from 'sql.js';

import { DatabaseLockedError } from '../errors/lifecycle.errors.js';
import { randomUuid } from '../random-uuid.util.js';

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

/** The part of `BroadcastChannel` the fallback uses. */
interface ChannelLike {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}
type ChannelConstructor = new (name: string) => ChannelLike;

/** Messages of the fallback: a claim, and an owner's (or a higher-priority claimant's) refusal. */
interface OwnershipMessage {
  type: 'claim' | 'taken';
  name: string;
  /** The claimant's id (`claim`), or the id of the claimant that must back off (`taken`). */
  id: string;
}

/** How long a claim waits for an owner's or a competing claimant's answer. */
const CLAIM_WINDOW_MS = 150;

/**
 * `BroadcastChannel` in a browser page or worker without Web Locks: the Web Locks API exists only
 * in secure contexts, and the same app is also opened as `http://<lan-ip>`. Not used in Node,
 * where `BroadcastChannel` only reaches worker threads of the same process.
 */
function broadcastChannel(): ChannelConstructor | undefined {
  const g = globalThis as {
    BroadcastChannel?: ChannelConstructor;
    document?: unknown;
    WorkerGlobalScope?: unknown;
  };
  const browser = g.document !== undefined || g.WorkerGlobalScope !== undefined;
  return browser && typeof g.BroadcastChannel === 'function' ? g.BroadcastChannel : undefined;
}

const isClaim = (data: unknown, name: string): data is OwnershipMessage =>
  typeof data === 'object' && data !== null && (data as OwnershipMessage).name === name;

/**
 * Ownership across tabs without Web Locks: announce a claim on a `BroadcastChannel` and wait
 * {@link CLAIM_WINDOW_MS}. An owner answers every claim with `taken`; of two claims that meet,
 * the smaller id wins (it answers the other with `taken`, and the other backs off even if that
 * answer is late). The channel closes with the page, so a closed or crashed tab never leaves a stale
 * claim behind. Best effort: it relies on messages arriving within the window, as they do between
 * tabs of one browser.
 *
 * @returns the release function, or `null` when another tab owns `name` or wins the claim.
 */
async function acquireBroadcastLock(Channel: ChannelConstructor, name: string): Promise<(() => void) | null> {
  const channel = new Channel('oversync:ownership');
  const id = randomUuid();
  // Asserted, not annotated: the handler changes it, so TypeScript must not narrow it to 'claiming'.
  let state = 'claiming' as 'claiming' | 'owned' | 'lost';
  channel.onmessage = ({ data }) => {
    if (!isClaim(data, name)) return;
    if (data.type === 'taken') {
      if (data.id === id && state === 'claiming') state = 'lost';
      return;
    }
    if (data.id === id || state === 'lost') return;
    if (state === 'owned' || data.id > id) channel.postMessage({ type: 'taken', name, id: data.id });
    else state = 'lost';
  };
  channel.postMessage({ type: 'claim', name, id } satisfies OwnershipMessage);
  await new Promise((resolve) => setTimeout(resolve, CLAIM_WINDOW_MS));
  if (state === 'lost') {
    channel.close();
    return null;
  }
  state = 'owned';
  return () => channel.close();
}

/**
 * Claims exclusive ownership of `db` (always, in-process) and of `lockName` (in-process and, in
 * a browser, across tabs and workers: with the Web Locks API, or with a `BroadcastChannel` claim
 * where Web Locks are missing, as in pages that are not a secure context).
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
  const Channel = locks ? undefined : broadcastChannel();
  if ((locks || Channel) && lockName !== undefined) {
    try {
      webRelease = locks
        ? await acquireWebLock(locks, `oversync:${lockName}`)
        : await acquireBroadcastLock(Channel!, `oversync:${lockName}`);
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
