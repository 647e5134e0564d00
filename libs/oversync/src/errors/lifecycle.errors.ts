import { OversyncError } from './oversync.error.js';

/** The service is draining for shutdown (wire 503 `service_unavailable`). */
export class ServiceUnavailableError extends OversyncError {
  constructor() {
    super('service_unavailable', 'Sync service is shutting down');
  }
}
