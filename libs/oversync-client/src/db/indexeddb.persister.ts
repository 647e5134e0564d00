import { type OversyncPersister } from './persister.types.js';

/** Options of {@link IndexedDbPersister}. */
export interface IndexedDbPersisterOptions {
  /**
   * IndexedDB database name.
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

function requestToPromise<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

/**
 * Stores the database image in IndexedDB (browsers). One `put` per save inside a `readwrite`
 * transaction with `durability: 'strict'`; the promise resolves on the transaction's `complete`.
 */
export class IndexedDbPersister implements OversyncPersister {
  readonly lockName: string;
  readonly #databaseName: string;
  readonly #storeName: string;
  readonly #key: string;
  readonly #factory: IDBFactory | undefined;
  #db: Promise<IDBDatabase> | undefined;

  constructor(options: IndexedDbPersisterOptions) {
    this.#databaseName = options.databaseName ?? 'oversync';
    this.#storeName = options.storeName ?? 'sqlite-images';
    this.#key = options.key;
    this.#factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    this.lockName = `idb:${this.#databaseName}/${this.#storeName}/${this.#key}`;
  }

  #open(): Promise<IDBDatabase> {
    const factory = this.#factory;
    if (!factory) return Promise.reject(new Error('IndexedDB is not available in this environment'));
    this.#db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = factory.open(this.#databaseName, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(this.#storeName)) {
          request.result.createObjectStore(this.#storeName);
        }
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error('IndexedDB open failed'));
    });
    return this.#db;
  }

  async #write(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => void): Promise<void> {
    const db = await this.#open();
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(this.#storeName, mode, { durability: 'strict' });
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
      fn(tx.objectStore(this.#storeName));
    });
  }

  async load(): Promise<Uint8Array | null> {
    const db = await this.#open();
    const tx = db.transaction(this.#storeName, 'readonly');
    const value = await requestToPromise<unknown>(tx.objectStore(this.#storeName).get(this.#key));
    if (value === undefined || value === null) return null;
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    throw new Error(`IndexedDB key "${this.#key}" does not hold a database image`);
  }

  save(image: Uint8Array): Promise<void> {
    // Store a standalone copy: the exported buffer may be a view over a larger one.
    const copy = image.slice();
    return this.#write('readwrite', (store) => store.put(copy, this.#key));
  }

  clear(): Promise<void> {
    return this.#write('readwrite', (store) => store.delete(this.#key));
  }
}
