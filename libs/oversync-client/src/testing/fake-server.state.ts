import {
  canonicalJson,
  computeBundleHash,
  type BundleRow,
  type JsonObject,
  type PushRequestRow,
  type SnapshotRow,
} from '@oversync/protocol';

/** A table the fake server knows: its sync key column. */
export interface FakeTable {
  readonly table: string;
  readonly keyColumn: string;
}

/** Server-side row state: `payload === null` is a tombstone. */
export interface FakeRow {
  readonly table: string;
  readonly key: string;
  payload: JsonObject | null;
  rowVersion: number;
}

/** One committed bundle. */
export interface FakeBundle {
  readonly bundleSeq: number;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly rows: BundleRow[];
  readonly hash: string;
}

/** Per (user, source) sequencing state. */
export interface FakeSource {
  state: 'active' | 'reserved' | 'retired';
  maxCommitted: number;
  replacedBy: string;
}

/** An open push session. */
export interface FakePushSession {
  readonly pushId: string;
  readonly userId: string;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly planned: number;
  readonly initializationId: string;
  staged: PushRequestRow[];
}

/** A materialised snapshot. */
export interface FakeSnapshot {
  readonly id: string;
  readonly userId: string;
  readonly bundleSeq: number;
  readonly rows: SnapshotRow[];
}

/** Everything the fake server keeps for one user (scope). */
export class FakeScope {
  scope: 'uninitialized' | 'initializing' | 'initialized' = 'uninitialized';
  initializer = '';
  initializationId = '';
  readonly bundles: FakeBundle[] = [];
  readonly rows = new Map<string, FakeRow>();
  readonly sources = new Map<string, FakeSource>();
  /** Bundles at or below the floor are pruned (history_pruned). */
  floor = 0;

  constructor(
    readonly userId: string,
    readonly schema: string,
  ) {}

  get latestSeq(): number {
    return this.bundles.at(-1)?.bundleSeq ?? 0;
  }

  static rowId(table: string, key: string): string {
    return `${table}\u0000${key}`;
  }

  source(sourceId: string): FakeSource {
    let source = this.sources.get(sourceId);
    if (!source) {
      source = { state: 'active', maxCommitted: 0, replacedBy: '' };
      this.sources.set(sourceId, source);
    }
    return source;
  }

  /** Commits row effects as the next bundle and returns it. */
  commit(
    sourceId: string,
    sourceBundleId: number,
    effects: {
      table: string;
      key: JsonObject;
      keyValue: string;
      op: BundleRow['op'];
      payload: JsonObject | null;
    }[],
  ): FakeBundle {
    const bundleSeq = this.latestSeq + 1;
    const rows: BundleRow[] = effects.map((e) => {
      // Payloads pass through float64, as on the Go server.
      const payload = e.payload === null ? undefined : (JSON.parse(canonicalJson(e.payload)) as JsonObject);
      const row: BundleRow = {
        schema: this.schema,
        table: e.table,
        key: e.key as Record<string, string>,
        op: e.op,
        row_version: bundleSeq,
      };
      if (payload) row.payload = payload;
      const id = FakeScope.rowId(e.table, e.keyValue);
      this.rows.set(id, { table: e.table, key: e.keyValue, payload: payload ?? null, rowVersion: bundleSeq });
      return row;
    });
    const bundle: FakeBundle = { bundleSeq, sourceId, sourceBundleId, rows, hash: computeBundleHash(rows) };
    this.bundles.push(bundle);
    this.scope = 'initialized';
    return bundle;
  }

  bundle(seq: number): FakeBundle | undefined {
    return this.bundles.find((b) => b.bundleSeq === seq);
  }
}
