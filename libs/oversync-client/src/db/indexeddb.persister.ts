import { randomUuid } from '../random-uuid.util.js';
import { IndexedDbConnection } from './indexeddb-connection.js';
import { type OversyncPersister } from './persister.types.js';

/** Options of {@link IndexedDbPersister}. */
export interface IndexedDbPersisterOptions {
  /**
   * IndexedDB database name. It may be a database the app uses for its own stores, at any version:
   * the persister adds its store with a version upgrade when the store is missing.
   * @default 'oversync'
   */
  databaseName?: string;
  /**
   * Object store name.
   * @default 'sqlite-images'
   */
  storeName?: string;
  /** Key of this image inside the store, e.g. the app's database name. */
  key: string;
  /** An `IDBFactory`; defaults to `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
}

/** Revision of an image saved by a build that stored no revisions (see `knownRevision`). */
const UNVERSIONED = 'unversioned';

/**
 * Stores the database image in IndexedDB (browsers). One `put` per save inside a `readwrite`
 * transaction with `durability: 'strict'`; the promise resolves on the transaction's `complete`.
 *
 * Each save also writes a random revision under the array key `[key, 'revision']` in the same
 * transaction (an array key never equals the app's string `key`), which `open()` uses to refuse a
 * stale image. The image itself stays a plain `Uint8Array` under `key`, as earlier builds stored it.
 *
 * The connection is opened on first use and closed when another connection needs the database
 * (`versionchange`: the app's `deleteDatabase()` or upgrade, another tab), when the browser drops it,
 * and when the client closes; the next call reopens it.
 */
export class IndexedDbPersister implements OversyncPersister {
  readonly lockName: string;
  readonly #key: string;
  readonly #revisionKey: [string, string];
  readonly #connection: IndexedDbConnection;
  #known: string | null | undefined;

  constructor(options: IndexedDbPersisterOptions) {
    const databaseName = options.databaseName ?? 'oversync';
    const storeName = options.storeName ?? 'sqlite-images';
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    this.#key = options.key;
    this.#revisionKey = [options.key, 'revision'];
    this.#connection = new IndexedDbConnection(factory, databaseName, storeName);
    this.lockName = `idb:${databaseName}/${storeName}/${this.#key}`;
  }

  async load(): Promise<Uint8Array | null> {
    const { image, revision } = await this.#read();
    this.#known = revision;
    return image;
  }

  save(image: Uint8Array): Promise<void> {
    // Store a standalone copy: the exported buffer may be a view over a larger one.
    const copy = image.slice();
    const revision = `idb:${randomUuid()}`;
    return this.#write(revision, (store) => store.put(copy, this.#key));
  }

  clear(): Promise<void> {
    return this.#write(null, (store) => store.delete(this.#key));
  }

  knownRevision(): string | null | undefined {
    return this.#known;
  }

  async storedRevision(): Promise<string | null> {
    return (await this.#read()).revision;
  }

  /** Closes the IndexedDB connection; the next call reopens it. */
  release(): void {
    this.#connection.close();
  }

  /** The image and its revision, read in one transaction so they belong together. */
  async #read(): Promise<{ image: Uint8Array | null; revision: string | null }> {
    const requests: { image?: IDBRequest<unknown>; revision?: IDBRequest<unknown> } = {};
    await this.#connection.run('readonly', (store) => {
      requests.image = store.get(this.#key);
      requests.revision = store.get(this.#revisionKey);
    });
    const image = asImage(requests.image?.result, this.#key);
    const revision = requests.revision?.result;
    if (typeof revision === 'string') return { image, revision };
    return { image, revision: image === null ? null : UNVERSIONED };
  }

  async #write(revision: string | null, change: (store: IDBObjectStore) => void): Promise<void> {
    await this.#connection.run('readwrite', (store) => {
      change(store);
      if (revision === null) store.delete(this.#revisionKey);
      else store.put(revision, this.#revisionKey);
    });
    this.#known = revision;
  }
}

function asImage(value: unknown, key: string): Uint8Array | null {
  if (value === undefined || value === null) return null;
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new Error(`IndexedDB key "${key}" does not hold a database image`);
}
