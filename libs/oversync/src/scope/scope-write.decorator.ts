import { SetMetadata } from '@nestjs/common';
import { SCOPE_WRITE_METADATA } from '../oversync.internal-constants.js';

/** Options of {@link ScopeWrite}. */
export interface ScopeWriteOptions {
  /** Writer id recorded as the bundle's source (e.g. `'admin-panel'`). */
  writerId: string;
  /** Picks the scope id from the method's arguments. @default the first argument (a string) */
  scopeId?: (...args: never[]) => string;
}

/** @internal Metadata recorded by {@link ScopeWrite}. */
export interface ScopeWriteMetadata {
  writerId: string;
  scopeId?: (...args: unknown[]) => string;
}

/**
 * Runs the decorated provider method as one captured sync bundle (`ScopeManager.execWrite`), so its
 * writes reach the scope's devices. Inside, inject {@link ScopeWriteContext} and use its `trx`.
 * The decorator only records metadata; `OversyncModule` wraps the method at start-up. A nested
 * call for the same scope joins the outer bundle; for another scope it throws.
 *
 * @example
 * ```ts
 * @Injectable()
 * export class AdminService {
 *   constructor(private readonly scope: ScopeWriteContext<Db>) {}
 *
 *   @ScopeWrite('admin-panel')
 *   async renameUser(userId: string, name: string) {
 *     await this.scope.trx.updateTable('business.users').set({ name })
 *       .where('_sync_scope_id', '=', userId).where('id', '=', userId).execute();
 *   }
 *
 *   @ScopeWrite({ writerId: 'importer', scopeId: (job: { ownerId: string }) => job.ownerId })
 *   async importPosts(job: { ownerId: string; posts: Post[] }) { ... }
 * }
 * ```
 */
export function ScopeWrite(writerIdOrOptions: string | ScopeWriteOptions): MethodDecorator {
  const options = typeof writerIdOrOptions === 'string' ? { writerId: writerIdOrOptions } : writerIdOrOptions;
  const metadata: ScopeWriteMetadata = {
    writerId: options?.writerId,
    scopeId: options?.scopeId as ((...args: unknown[]) => string) | undefined,
  };
  return SetMetadata(SCOPE_WRITE_METADATA, metadata);
}
