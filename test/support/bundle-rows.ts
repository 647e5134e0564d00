import type { BundleRow, JsonObject } from '@oversync/protocol';
import { CommittedBundleRowsService } from '@oversync/nestjs';
import type { OversyncTestApp } from './oversync-app.js';

/**
 * Every row of one committed bundle, read back through the engine's committed-rows service (the
 * engine returns bundle summaries; rows stay in PostgreSQL).
 */
export async function committedBundleRows(
  app: Pick<OversyncTestApp, 'get'>,
  userId: string,
  bundleSeq: number,
): Promise<BundleRow[]> {
  const service = app.get(CommittedBundleRowsService);
  const rows: BundleRow[] = [];
  let after: number | null = null;
  for (;;) {
    const page = await service.readPage(userId, { bundleSeq, afterRowOrdinal: after, maxRows: 1000 });
    for (const r of page.rows) {
      const row: BundleRow = {
        schema: r.schema,
        table: r.table,
        key: r.key,
        op: r.op,
        row_version: r.row_version,
      };
      if (r.payloadWire !== null) row.payload = JSON.parse(r.payloadWire) as JsonObject;
      rows.push(row);
    }
    if (!page.has_more) return rows;
    after = page.next_row_ordinal;
  }
}
