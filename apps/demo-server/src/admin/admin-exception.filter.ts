import { Catch, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { OversyncError } from '@oversync/nestjs';
import { ERROR_CODE_INFO, isErrorCode } from '@oversync/protocol';
import type { Request, Response } from 'express';

/**
 * Maps the sync engine's errors on the admin routes to `{error, message, ...}` bodies. Wire codes
 * keep their protocol status: `scope_initializing` is a 409 with `lease_expires_at` (a device is
 * initialising the scope: retry after the lease), `service_unavailable` a 503 (shutting down),
 * `source_retired` a 409. Engine-only codes (`ScopeWriteInvalidError`,
 * `RegisteredWriteRejectedError`, `ScopeWriteNoCapturedChangesError`, …) mean the admin service
 * itself is wrong, so they are a logged 500 `admin_write_failed` without details. Other exceptions
 * (validation, 404) keep Nest's handling.
 */
@Catch(OversyncError)
export class AdminExceptionFilter implements ExceptionFilter {
  readonly #logger = new Logger('AdminApi');

  catch(exception: OversyncError, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    if (isErrorCode(exception.code)) {
      const body: Record<string, unknown> = { error: exception.code, message: exception.message };
      if (exception.code === 'scope_initializing') body.lease_expires_at = exception.details.lease_expires_at;
      res.status(ERROR_CODE_INFO[exception.code].status).json(body);
      return;
    }
    this.#logger.error(
      `${req.method} ${req.path}: ${exception.name} (${exception.code}): ${exception.message}`,
      exception.cause instanceof Error ? exception.cause.stack : exception.stack,
    );
    res.status(500).json({ error: 'admin_write_failed', message: 'admin write failed: internal error' });
  }
}
