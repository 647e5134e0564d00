import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { ScopeWriteInvalidError } from '../errors/index.js';

/** What an active scope write knows about itself. */
export interface ActiveScopeWrite {
  readonly scopeId: string;
  readonly writerId: string;
  readonly trx: Transaction<unknown>;
}

/** A scope write as stored in the async context, with whether its callback has settled. */
interface ScopeWriteEntry extends ActiveScopeWrite {
  ended: boolean;
}

/**
 * Injectable view of the scope write running in the current async context. Inside a
 * `@ScopeWrite` method (or an `execWrite` callback) `trx` is the captured transaction; outside one
 * every getter throws, so a write can never silently escape its bundle.
 *
 * @example
 * ```ts
 * constructor(private readonly scope: ScopeWriteContext<Db>) {}
 * @ScopeWrite('admin-panel')
 * async rename(userId: string, name: string) {
 *   await this.scope.trx.updateTable('business.users').set({ name })
 *     .where('_sync_scope_id', '=', userId).where('id', '=', userId).execute();
 * }
 * ```
 */
@Injectable()
export class ScopeWriteContext<DB = unknown> {
  readonly #storage = new AsyncLocalStorage<ScopeWriteEntry>();

  /**
   * The current scope write's Kysely transaction (type it by injecting `ScopeWriteContext<MyDb>`).
   * @throws ScopeWriteInvalidError outside a scope write.
   */
  get trx(): Transaction<DB> {
    return this.#require().trx as unknown as Transaction<DB>;
  }

  /** Scope (user) id of the current scope write. */
  get scopeId(): string {
    return this.#require().scopeId;
  }

  /** Writer (source) id of the current scope write. */
  get writerId(): string {
    return this.#require().writerId;
  }

  /** True inside a scope write. */
  get active(): boolean {
    return this.current() !== undefined;
  }

  /** @internal Current scope write, if any (none once its callback has settled). */
  current(): ActiveScopeWrite | undefined {
    const store = this.#storage.getStore();
    return store && !store.ended ? store : undefined;
  }

  /**
   * @internal Runs `fn` with `write` as the active scope write. The write ends when `fn` settles:
   * a timer or event handler that `fn` started inherits the async context, but must not join (or
   * be refused as nested in) a transaction that is finalising or already committed.
   */
  async run<T>(write: ActiveScopeWrite, fn: () => Promise<T>): Promise<T> {
    const entry: ScopeWriteEntry = { ...write, ended: false };
    try {
      return await this.#storage.run(entry, fn);
    } finally {
      entry.ended = true;
    }
  }

  #require(): ActiveScopeWrite {
    const store = this.current();
    if (!store) {
      throw new ScopeWriteInvalidError(
        'ScopeWriteContext used outside a scope write. Call it from a method decorated with @ScopeWrite(...) or inside ScopeManager.execWrite(...).',
      );
    }
    return store;
  }
}
