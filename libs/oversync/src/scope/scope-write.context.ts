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
  readonly #storage = new AsyncLocalStorage<ActiveScopeWrite>();

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
    return this.#storage.getStore() !== undefined;
  }

  /** @internal Current scope write, if any. */
  current(): ActiveScopeWrite | undefined {
    return this.#storage.getStore();
  }

  /** @internal Runs `fn` with `write` as the active scope write. */
  run<T>(write: ActiveScopeWrite, fn: () => Promise<T>): Promise<T> {
    return this.#storage.run(write, fn);
  }

  #require(): ActiveScopeWrite {
    const store = this.#storage.getStore();
    if (!store) {
      throw new ScopeWriteInvalidError(
        'ScopeWriteContext used outside a scope write. Call it from a method decorated with @ScopeWrite(...) or inside ScopeManager.execWrite(...).',
      );
    }
    return store;
  }
}
