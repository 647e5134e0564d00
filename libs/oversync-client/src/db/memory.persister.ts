import { type OversyncPersister } from './persister.types.js';

/**
 * Keeps the database image in memory. Useful for tests and for simulating an app restart: create a
 * new sql.js `Database` from `load()` and a new client on top of it.
 *
 * @example
 * ```ts
 * const persister = new MemoryPersister();
 * const db = new SQL.Database((await persister.load()) ?? undefined);
 * ```
 */
export class MemoryPersister implements OversyncPersister {
  #image: Uint8Array | null = null;
  #saves = 0;
  /** Bumped by every save and clear: the instance is the storage, so a counter is a revision. */
  #changes = 0;
  #known: string | null | undefined;

  /** @param lockName - optional ownership lock name; by default memory images are not locked by name. */
  constructor(readonly lockName?: string) {}

  /** Number of completed `save` calls (handy for asserting export coalescing). */
  get saveCount(): number {
    return this.#saves;
  }

  load(): Promise<Uint8Array | null> {
    this.#known = this.#revision();
    return Promise.resolve(this.#image === null ? null : this.#image.slice());
  }

  save(image: Uint8Array): Promise<void> {
    this.#image = image.slice();
    this.#saves += 1;
    this.#changes += 1;
    this.#known = this.#revision();
    return Promise.resolve();
  }

  clear(): Promise<void> {
    this.#image = null;
    this.#changes += 1;
    this.#known = this.#revision();
    return Promise.resolve();
  }

  knownRevision(): string | null | undefined {
    return this.#known;
  }

  storedRevision(): Promise<string | null> {
    return Promise.resolve(this.#revision());
  }

  #revision(): string | null {
    return this.#changes === 0 ? null : `memory:${this.#changes}`;
  }
}
