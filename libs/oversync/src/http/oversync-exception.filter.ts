import { Catch, Logger, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { ERROR_CODE_INFO, isErrorCode } from '@oversync/protocol';
import { sqlState } from '../database/pg-values.util.js';
import { OversyncError } from '../errors/index.js';
import { SQLSTATE } from '../schema/sync-layout.constants.js';

/** Statuses of the engine-only (`oversync_*`) codes on a host route; any other such code is a 500. */
const ENGINE_STATUS: Readonly<Record<string, number>> = Object.freeze({
  // A blank scope or writer id comes from the request the host passed on.
  oversync_scope_write_invalid: 400,
  // The request was understood but changed no synced row (an update of a row that does not exist).
  oversync_scope_write_no_captured_changes: 422,
});

/** The HTTP status of an Oversync error raised inside a host's own route. */
function hostStatusOf(error: OversyncError): number {
  if (isErrorCode(error.code)) return ERROR_CODE_INFO[error.code].status;
  // The owner guard refused a row of another scope: the caller may not touch it. Every other
  // rejection (a write outside a bundle context) is a server bug, not the caller's.
  if (error.code === 'oversync_registered_write_rejected') {
    return sqlState(error.cause) === SQLSTATE.scopeViolation ? 403 : 500;
  }
  return ENGINE_STATUS[error.code] ?? 500;
}

/**
 * Exception filter for the host's own routes that call `@ScopeWrite` methods, `ScopeManager` or
 * `SyncService`: an `OversyncError` is answered with its status and `{ statusCode, error, message }`
 * (`error` is the error's stable `code`, e.g. `scope_initializing` → 409,
 * `oversync_scope_write_no_captured_changes` → 422, `oversync_scope_write_invalid` → 400, a write
 * to another scope's row → 403). Server-side failures (5xx) are logged with their cause and
 * answered with a generic message. Everything else is left to Nest's default handling, so
 * `HttpException`s and unknown errors behave exactly as without this filter.
 *
 * The `/sync/*` routes do not need it: they carry their own wire-format filter.
 *
 * @example
 * ```ts
 * // app.module.ts: for every host route
 * providers: [{ provide: APP_FILTER, useClass: OversyncExceptionFilter }]
 * // or on one controller: @UseFilters(OversyncExceptionFilter)
 * // or, created yourself (like any filter extending BaseExceptionFilter, it needs the adapter):
 * app.useGlobalFilters(new OversyncExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
 * ```
 */
@Catch()
export class OversyncExceptionFilter extends BaseExceptionFilter {
  readonly #logger = new Logger('Oversync');

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (!(exception instanceof OversyncError) || host.getType() !== 'http') {
      super.catch(exception, host);
      return;
    }
    const status = hostStatusOf(exception);
    let message = exception.message;
    if (status >= 500) {
      this.#logger.error(
        `${exception.code}: ${exception.message}`,
        exception.cause instanceof Error ? exception.cause.stack : exception.stack,
      );
      message = 'Internal server error';
    }
    const adapter = this.applicationRef ?? this.httpAdapterHost?.httpAdapter;
    if (!adapter) {
      // Created with `new` and no adapter: Nest's own handling reports that misuse.
      super.catch(exception, host);
      return;
    }
    adapter.reply(
      host.switchToHttp().getResponse(),
      { statusCode: status, error: exception.code, message },
      status,
    );
  }
}
