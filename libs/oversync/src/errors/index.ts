export { OversyncError, type OversyncErrorDetails } from './oversync.error.js';
export { OversyncConfigError, UnsupportedSchemaError } from './config.errors.js';
export {
  ScopeUninitializedError,
  ScopeInitializingError,
  ScopeWriteInvalidError,
  ScopeWriteNoCapturedChangesError,
  ScopeWriteTransactionBrokenError,
  RegisteredWriteRejectedError,
} from './scope.errors.js';
export {
  SourceRetiredError,
  SourceTupleHistoryPrunedError,
  SourceSequenceOutOfOrderError,
  SourceSequenceChangedError,
} from './source.errors.js';
export { HistoryPrunedError } from './history.errors.js';
export { ServiceUnavailableError } from './lifecycle.errors.js';
export { SyncWireError } from './wire.error.js';
export * from './push.errors.js';
export * from './snapshot.errors.js';
