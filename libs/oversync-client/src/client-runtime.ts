import { ExportScheduler } from './db/export-scheduler.js';
import { assertImageUnchanged } from './db/image-revision.js';
import { acquireOwnership, type OwnershipLease } from './db/ownership.js';
import { SqlJsAdapter } from './db/sql-js.adapter.js';
import { type ResolvedClientOptions } from './oversync-client.options.js';
import { installSchema } from './schema/schema-installer.js';
import { DeferredMerges } from './sync/deferred-merges.js';
import { TableRegistry, type SyncContext, type SyncSession } from './sync/sync-context.js';
import { SyncStateStore } from './sync/sync-state.store.js';
import { HttpTransport } from './transport/http-transport.js';

/** Everything `open()` builds; released by `close()`. */
export interface ClientRuntime {
  readonly ctx: SyncContext;
  readonly exports: ExportScheduler;
  readonly lease: OwnershipLease;
}

/**
 * Claims ownership of the database, checks that its image was not replaced since it was loaded,
 * installs metadata tables and triggers, and wires the sync context. On failure the ownership
 * claim is released again.
 *
 * @param loadedRevision - the persister's revision of the image `db` was loaded from.
 */
export async function createRuntime(
  options: ResolvedClientOptions,
  session: SyncSession,
  installWriteHook: () => void,
  loadedRevision: string | null | undefined,
): Promise<ClientRuntime> {
  const lease = await acquireOwnership(options.db, options.lockName);
  try {
    // Only now, under the lock: the owner that just let go may have saved after `db` was loaded.
    await assertImageUnchanged(options.persistence, loadedRevision, options.lockName ?? 'in-memory database');
    const db = new SqlJsAdapter(options.db, options.sqlJs);
    const tables = new TableRegistry(installSchema(db, options.schema, options.tables));
    // sql.js releases before 1.16 implement export() by closing and reopening the connection, which
    // drops connection state: restore foreign keys and the update hook when that happened.
    const afterExport = () => {
      if (Number(db.scalar('PRAGMA foreign_keys')) === 1) return;
      db.exec('PRAGMA foreign_keys = ON');
      installWriteHook();
    };
    const exports = new ExportScheduler(
      db,
      options.persistence,
      options.exportDebounceMs,
      options.onBackgroundError,
      afterExport,
    );
    const transport = new HttpTransport({
      baseUrl: options.baseUrl,
      fetch: options.fetch,
      getToken: options.getToken,
      sourceId: () => session.sourceId,
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    const ctx: SyncContext = {
      db,
      store: new SyncStateStore(db, options.schema),
      tables,
      schema: options.schema,
      transport,
      limits: {
        uploadChunkRows: options.uploadChunkRows,
        downloadLimit: options.downloadLimit,
        snapshotChunkRows: options.snapshotChunkRows,
      },
      resolver: options.conflictResolver,
      session,
      deferredMerges: new DeferredMerges(),
      persist: () => exports.persistNow(),
    };
    return { ctx, exports, lease };
  } catch (error) {
    lease.release();
    throw error;
  }
}
