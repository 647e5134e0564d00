import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { ERROR_CODE_INFO, isErrorCode } from '@oversync/protocol';
import type { Request, Response } from 'express';
import { OversyncError } from '../errors/index.js';
import type { OversyncRequestState } from './sync-request.types.js';
import { sendJson } from './send-json.util.js';

/**
 * The one exception filter of the sync routes: maps error codes to the go-oversync status and the
 * `{error, message}` envelope (plus the `source_retired` and `push_conflict` special bodies).
 * Anything unexpected becomes the route's `*_failed` code, logged with its cause; stack traces are
 * never sent.
 */
@Catch()
export class SyncExceptionFilter implements ExceptionFilter {
  readonly #logger = new Logger('OversyncHttp');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request & OversyncRequestState>();
    const res = http.getResponse<Response>();
    if (res.headersSent) {
      // A streaming response (watch) already started: nothing sensible can be sent any more.
      res.end();
      return;
    }
    const { status, body } = this.#toBody(exception, req);
    sendJson(res, status, body);
  }

  #toBody(
    exception: unknown,
    req: Request & OversyncRequestState,
  ): { status: number; body: Record<string, unknown> } {
    if (exception instanceof OversyncError && isErrorCode(exception.code)) {
      const status = ERROR_CODE_INFO[exception.code].status;
      const body: Record<string, unknown> = { error: exception.code, message: exception.message };
      if (exception.code === 'source_retired') {
        body.source_id = exception.details.source_id;
        if (exception.details.replaced_by_source_id)
          body.replaced_by_source_id = exception.details.replaced_by_source_id;
      }
      if (exception.code === 'push_conflict') body.conflict = exception.details.conflict ?? null;
      if (status >= 500)
        this.#logger.error(
          `${req.method} ${req.path}: ${exception.message}`,
          exception.cause instanceof Error ? exception.cause.stack : undefined,
        );
      return { status, body };
    }
    if (exception instanceof HttpException && exception.getStatus() === 404) {
      return { status: 404, body: { error: 'not_found', message: exception.message } };
    }
    if (exception instanceof HttpException) {
      // Oversync itself throws OversyncErrors only: this is the host's answer, from a global guard
      // (a JWT guard's 401, a rate limiter's 429), pipe or interceptor, so it keeps its status and
      // body as Nest would send them. A 500 would hide it: clients refresh credentials on 401,
      // retry 429, and never retry a 500 on their own.
      const status = exception.getStatus();
      const response = exception.getResponse();
      const body =
        typeof response === 'object' && response !== null
          ? (response as Record<string, unknown>)
          : { statusCode: status, message: response };
      return { status, body };
    }
    const route = req.oversyncRoute;
    const failure = route?.failure ?? 'internal_error';
    this.#logger.error(
      `${req.method} ${req.path} failed (${failure}): ${(exception as Error)?.message ?? String(exception)}`,
      exception instanceof Error ? exception.stack : undefined,
    );
    return {
      status: 500,
      body: { error: failure, message: route?.failureMessage ?? 'Internal server error' },
    };
  }
}
