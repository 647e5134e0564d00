import { Injectable } from '@nestjs/common';
import {
  MAX_BUNDLES_PER_PULL,
  PROTOCOL_VERSION,
  V1_FEATURE_DEFAULTS,
  type BundleLimits,
  type CapabilitiesResponse,
  type FeatureFlags,
} from '@oversync/protocol';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';

/** The actor a capability answer is tailored to (watch policy). */
export interface CapabilitiesActor {
  userId: string;
  sourceId: string;
}

/**
 * The protocol surface this server advertises (`GET /sync/capabilities`, and the `features` map of
 * `/syncx/status`): the 20 v1 feature flags, the bundle limits (zero limits omitted) and the
 * registered tables.
 */
@Injectable()
export class CapabilitiesService {
  constructor(private readonly runtime: OversyncRuntime) {}

  /**
   * The feature map. `bundle_change_watch` is true when watch is enabled and, for a given actor,
   * the watch policy allows it; without an actor it is the global value.
   */
  features(actor?: CapabilitiesActor): FeatureFlags {
    return { ...V1_FEATURE_DEFAULTS, bundle_change_watch: this.watchAllowed(actor) };
  }

  /** True when `actor` may open `GET /sync/watch` (and watch is enabled at all). */
  watchAllowed(actor?: CapabilitiesActor): boolean {
    const { watch } = this.runtime.options;
    if (!watch.enabled) return false;
    return actor === undefined || watch.policy({ userId: actor.userId, sourceId: actor.sourceId }) !== false;
  }

  /** The full `CapabilitiesResponse`, in go-oversync's field order. */
  capabilities(actor?: CapabilitiesActor): CapabilitiesResponse {
    const { options, catalog } = this.runtime;
    const tables = catalog.tables;
    return {
      protocol_version: PROTOCOL_VERSION,
      schema_version: options.maxSupportedSchemaVersion,
      ...(options.appName ? { app_name: options.appName } : {}),
      ...(tables.length > 0
        ? {
            registered_tables: catalog.qualifiedNames,
            registered_table_specs: tables.map((t) => ({
              schema: t.schema,
              table: t.table,
              sync_key_columns: [t.keyColumn],
            })),
          }
        : {}),
      features: this.features(actor),
      bundle_limits: this.bundleLimits(),
    };
  }

  /** `bundle_limits`: every field is omitempty, so zero (unlimited / not advertised) limits disappear. */
  bundleLimits(): BundleLimits {
    const l = this.runtime.options.limits;
    const all: BundleLimits = {
      max_rows_per_bundle: l.maxRowsPerBundle,
      max_bytes_per_bundle: l.maxBytesPerBundle,
      max_bundles_per_pull: MAX_BUNDLES_PER_PULL,
      default_rows_per_push_chunk: l.defaultRowsPerPushChunk,
      max_rows_per_push_chunk: l.maxRowsPerPushChunk,
      push_session_ttl_seconds: l.pushSessionTtlSeconds,
      default_rows_per_committed_bundle_chunk: l.defaultRowsPerCommittedBundleChunk,
      max_rows_per_committed_bundle_chunk: l.maxRowsPerCommittedBundleChunk,
      default_rows_per_snapshot_chunk: l.defaultRowsPerSnapshotChunk,
      max_rows_per_snapshot_chunk: l.maxRowsPerSnapshotChunk,
      snapshot_session_ttl_seconds: l.snapshotSessionTtlSeconds,
      max_rows_per_snapshot_session: l.maxRowsPerSnapshotSession,
      max_bytes_per_snapshot_session: l.maxBytesPerSnapshotSession,
      initialization_lease_ttl_seconds: l.initializationLeaseTtlSeconds,
    };
    return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== 0 && v !== undefined));
  }
}
