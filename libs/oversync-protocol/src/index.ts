/**
 * `@oversync/protocol`: the go-oversync v1 wire protocol shared by the Oversync server and client.
 * Pure TypeScript with no runtime dependencies and no Node or DOM APIs.
 *
 * @packageDocumentation
 */

// Constants
export {
  DEFAULT_LIMITS,
  DEFAULT_MAX_BUNDLES_PER_PULL,
  MAX_BUNDLES_PER_PULL,
  PROTOCOL_VERSION,
  RETRYABLE_HTTP_STATUSES,
  SOURCE_ID_HEADER,
} from './constants.js';

// Errors
export {
  ErrorCode,
  isErrorCode,
  isSourceRecoveryReason,
  SOURCE_RECOVERY_REASONS,
  type ErrorCodeValue,
  type SourceRecoveryReason,
} from './errors/error-codes.js';
export { ERROR_CODE_INFO, type ErrorCodeInfo } from './errors/error-code-info.js';

// Wire messages
export type { BundleRow, Bundle, RowOp, SyncKey } from './wire/bundle.types.js';
export { ROW_OPS } from './wire/bundle.types.js';
export {
  CONNECT_RESOLUTIONS,
  type ConnectRequest,
  type ConnectResolution,
  type ConnectResponse,
  type InitializeEmptyConnectResponse,
  type InitializeLocalConnectResponse,
  type RemoteAuthoritativeConnectResponse,
  type RetryLaterConnectResponse,
} from './wire/connect.types.js';
export type {
  PushSessionAlreadyCommittedResponse,
  PushSessionCreateRequest,
  PushSessionCreateResponse,
  PushSessionStagingResponse,
  PushSessionStatus,
} from './wire/push-session.types.js';
export type {
  PushRequestRow,
  PushSessionChunkRequest,
  PushSessionChunkResponse,
} from './wire/push-chunk.types.js';
export type { PushSessionCommitResponse } from './wire/push-commit.types.js';
export type {
  CommittedBundleRowsQuery,
  CommittedBundleRowsResponse,
} from './wire/committed-bundle-rows.types.js';
export type { PullQuery, PullResponse } from './wire/pull.types.js';
export type {
  SnapshotChunkQuery,
  SnapshotChunkResponse,
  SnapshotRow,
  SnapshotSession,
  SnapshotSessionCreateRequest,
  SourceReplacement,
} from './wire/snapshot.types.js';
export {
  FEATURE_FLAGS,
  V1_FEATURE_DEFAULTS,
  type BundleLimits,
  type CapabilitiesResponse,
  type FeatureFlag,
  type FeatureFlags,
  type RegisteredTableSpec,
} from './wire/capabilities.types.js';
export {
  WATCH_EVENT_NAME,
  WATCH_HEARTBEAT_FRAME,
  type WatchEvent,
  type WatchQuery,
} from './wire/watch.types.js';
export { parseSseStream, SseParser, type SseMessage } from './wire/sse-parser.util.js';
export { formatWatchEventFrame, parseWatchEventData, WatchStreamParser } from './wire/watch-stream.util.js';
export type { ServiceLifecycle, StatusResponse } from './wire/status.types.js';
export type {
  ErrorBody,
  PushConflict,
  PushConflictErrorBody,
  SourceRetiredErrorBody,
} from './wire/error-body.types.js';
export { isErrorBody, isPushConflictErrorBody, isSourceRetiredErrorBody } from './wire/error-body.util.js';

// JSON and hashing
export type { JsonArray, JsonObject, JsonPrimitive, JsonValue } from './json/json.types.js';
export {
  canonicalizeJsonText,
  canonicalJson,
  canonicalJsonNumber,
  canonicalJsonString,
  compareUtf8,
  NonFiniteNumberError,
} from './json/canonical-json.js';
export { bytesToHex, Sha256, sha256Hex, sha256HexUtf8 } from './hash/sha256.js';
export { utf8ByteLength, utf8Encode } from './hash/utf8.js';
export {
  canonicalBundleText,
  canonicalBundleTextFromWire,
  computeBundleHash,
  computeBundleHashFromWire,
  digestCanonicalText,
  type BundleDigest,
  type BundleHashRow,
  type WireHashRow,
} from './hash/bundle-hash.js';

// Value encodings
export { bytesToUuid, isCanonicalUuid, uuidToBytes } from './keys/uuid.util.js';
export { base64Decode, base64Encode, isStandardBase64 } from './encoding/base64.util.js';
export { formatRfc3339Nano, isZonedTimestamp, sameInstant } from './timestamps/timestamp.util.js';
