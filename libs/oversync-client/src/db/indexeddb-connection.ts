/**
 * One lazily opened connection to an IndexedDB database that holds a given object store, reopened
 * whenever it is lost.
 *
 * - It opens without a version, so it joins a database the app already uses at any version. When
 *   the store is missing, it reopens at `version + 1` and creates it there (IndexedDB creates
 *   stores only in an upgrade).
 * - It yields to others: on `versionchange` (the app's `deleteDatabase()` or upgrade, another tab's
 *   persister adding its store) it closes and forgets the connection; on `close` (the browser
 *   dropped it: site data cleared, storage evicted) it forgets it too. The next call reopens.
 * - An upgrade that another connection keeps blocked (one that ignores `versionchange`) fails
 *   after a few seconds with an error naming the database, instead of waiting forever.
 * - A failed open is forgotten as well, so a later call tries again.
 */
export class IndexedDbConnection {
  #current: { readonly db: Promise<IDBDatabase> } | undefined;

  constructor(
    private readonly factory: IDBFactory | undefined,
    private readonly databaseName: string,
    private readonly storeName: string,
  ) {}

  /**
   * Runs `body` in one transaction on the store and resolves when the transaction completes (for
   * `readwrite`, durably: `durability: 'strict'`).
   */
  async run(mode: IDBTransactionMode, body: (store: IDBObjectStore) => void): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const { tx, current } = await this.#transaction(mode);
      try {
        await new Promise<void>((resolve, reject) => {
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
          tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
          body(tx.objectStore(this.storeName));
        });
        return;
      } catch (error) {
        // The browser closed the connection (site data cleared) after it accepted the transaction
        // but before our close event: the transaction aborts ("The connection was closed") and
        // wrote nothing. Nothing of ours aborts transactions, so reopen and run it once more.
        if (attempt > 0 || !isDomError(error, 'AbortError')) throw error;
        this.#forget(current);
      }
    }
  }

  /** Closes the connection (once its transactions finished); the next {@link run} reopens. */
  close(): void {
    const current = this.#current;
    this.#current = undefined;
    current?.db.then(
      (db) => db.close(),
      () => undefined,
    );
  }

  async #transaction(
    mode: IDBTransactionMode,
  ): Promise<{ tx: IDBTransaction; current: { readonly db: Promise<IDBDatabase> } }> {
    const options: IDBTransactionOptions | undefined =
      mode === 'readwrite' ? { durability: 'strict' } : undefined;
    for (let attempt = 0; ; attempt++) {
      const current = this.#connect();
      const db = await current.db;
      try {
        return { tx: db.transaction(this.storeName, mode, options), current };
      } catch (error) {
        // The connection closed before its close event reached us (InvalidStateError), or the
        // app's upgrade deleted the store (NotFoundError): reopen once.
        if (attempt > 0 || !isDomError(error, 'InvalidStateError', 'NotFoundError')) throw error;
        db.close();
        this.#forget(current);
      }
    }
  }

  #connect(): { readonly db: Promise<IDBDatabase> } {
    if (this.#current) return this.#current;
    const factory = this.factory;
    if (!factory) {
      return { db: Promise.reject(new Error('IndexedDB is not available in this environment')) };
    }
    const db = openWithStore(factory, this.databaseName, this.storeName);
    const current = { db };
    this.#current = current;
    db.then(
      (connection) => {
        connection.onversionchange = () => {
          connection.close();
          this.#forget(current);
        };
        connection.onclose = () => this.#forget(current);
        // Closed by close() or by a handler above while the open was in flight.
        if (this.#current !== current) connection.close();
      },
      () => this.#forget(current),
    );
    return current;
  }

  #forget(current: { readonly db: Promise<IDBDatabase> }): void {
    if (this.#current === current) this.#current = undefined;
  }
}

/** Attempts before giving up on a database whose version keeps moving under us. */
const MAX_OPEN_ATTEMPTS = 5;

/** Opens `name` at its current version, upgrading it once to add `store` when it lacks it. */
async function openWithStore(factory: IDBFactory, name: string, store: string): Promise<IDBDatabase> {
  let version: number | undefined;
  for (let attempt = 0; attempt < MAX_OPEN_ATTEMPTS; attempt++) {
    let db: IDBDatabase;
    try {
      db = await openRequest(factory, name, version, store);
    } catch (error) {
      // Another connection upgraded past `version` first: look at the database again.
      if (version !== undefined && isDomError(error, 'VersionError')) {
        version = undefined;
        continue;
      }
      throw error;
    }
    if (db.objectStoreNames.contains(store)) return db;
    version = db.version + 1;
    db.close();
  }
  throw new Error(
    `IndexedDB database "${name}" changed version ${MAX_OPEN_ATTEMPTS} times while object store "${store}" was being added; try again`,
  );
}

/**
 * How long an upgrade may stay `blocked` before the open fails. IndexedDB reports `blocked` only
 * when a connection is still open after its `versionchange` event (connections of this class close
 * right away), so this is a connection that ignores `versionchange` (the app's own, another tab's)
 * and may never close: waiting for it would hang `load()` and `save()` without a word.
 */
const BLOCKED_UPGRADE_TIMEOUT_MS = 5000;

/**
 * One `open` request. An upgrade waits (`blocked`) until every other connection to the database
 * closes, as IndexedDB requires; connections that handle `versionchange` (like this one) do. One
 * that stays blocked for {@link BLOCKED_UPGRADE_TIMEOUT_MS} fails with an error that says so; if the
 * request succeeds later, its connection is closed at once.
 */
function openRequest(
  factory: IDBFactory,
  name: string,
  version: number | undefined,
  store: string,
): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = version === undefined ? factory.open(name) : factory.open(name, version);
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    let gaveUp = false;
    request.onupgradeneeded = () => {
      // Also runs when the database did not exist yet (created at version 1).
      if (!request.result.objectStoreNames.contains(store)) request.result.createObjectStore(store);
    };
    request.onblocked = () => {
      blockedTimer ??= setTimeout(() => {
        gaveUp = true;
        reject(
          new Error(
            `IndexedDB database "${name}" needs a version upgrade to add object store "${store}", ` +
              `but it stayed blocked for ${BLOCKED_UPGRADE_TIMEOUT_MS} ms: another connection to the ` +
              'database (the app\'s own, or another tab\'s) is open and does not close on "versionchange". ' +
              'Close that connection in its onversionchange handler, or create the store in your own upgrade.',
          ),
        );
      }, BLOCKED_UPGRADE_TIMEOUT_MS);
    };
    request.onsuccess = () => {
      clearTimeout(blockedTimer);
      if (gaveUp) request.result.close();
      else resolve(request.result);
    };
    request.onerror = () => {
      clearTimeout(blockedTimer);
      reject(request.error ?? new Error(`IndexedDB open of "${name}" failed`));
    };
  });
}

function isDomError(error: unknown, ...names: string[]): boolean {
  return (
    typeof error === 'object' && error !== null && names.includes((error as { name?: string }).name ?? '')
  );
}
