import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { OVERSYNC_RESOLVED_OPTIONS } from '../oversync.internal-constants.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import type { OversyncRequestState } from './sync-request.types.js';

/** Set once this middleware has taken a request's body on. */
const TAKEN = Symbol('oversync:body-taken');

type SyncRequest = Request & OversyncRequestState & { _body?: boolean; [TAKEN]?: true };

/**
 * Reads JSON bodies of the sync routes with our own size limit. Content-Type is not required (Go
 * clients send none on commit). Errors are recorded on the request, not thrown: the actor guard
 * answers them after authentication, in the route's own error codes (401 and the source header
 * come first, as in go-oversync).
 */
@Injectable()
export class SyncBodyMiddleware implements NestMiddleware {
  constructor(@Inject(OVERSYNC_RESOLVED_OPTIONS) private readonly options: ResolvedOversyncOptions) {}

  use(req: SyncRequest, _res: Response, next: NextFunction): void {
    // Nest runs it once per matching route, and each sync path has two (the handler and the 405
    // catch-all): the second run must not take our own parsed value for a host parser's text.
    if (req[TAKEN]) {
      next();
      return;
    }
    req[TAKEN] = true;
    const limit = this.options.limits.maxRequestBodyBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      req.oversyncBodyError = {
        tooLarge: true,
        message: `request body of ${declared} bytes exceeds the ${limit}-byte limit`,
      };
      req.resume();
      next();
      return;
    }
    if (req.method === 'GET' || req.method === 'DELETE' || req.method === 'HEAD') {
      next();
      return;
    }
    // A host-level parser (Nest's default one, `express.json()`) read the body already: its
    // `end` event is gone, so waiting for it would hang the request forever. body-parser 1 marks
    // this with `_body`; body-parser 2 (Express 5's) only leaves the stream ended.
    if (req._body || req.readableEnded) {
      adoptHostBody(req);
      next();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        req.oversyncBodyError = { tooLarge: true, message: `request body exceeds the ${limit}-byte limit` };
        next();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (error) => {
      if (failed) return;
      failed = true;
      req.oversyncBodyError = { tooLarge: false, message: `could not read request body: ${error.message}` };
      next();
    });
    req.on('end', () => {
      if (failed) return;
      req._body = true;
      parseJsonText(req, Buffer.concat(chunks).toString('utf8'));
      next();
    });
  }
}

/** Records `text` as the request's JSON body, or the parse failure for the guard to answer. */
function parseJsonText(req: SyncRequest, text: string): void {
  if (text.trim() === '') {
    req.oversyncEmptyBody = true;
    req.body = undefined;
    return;
  }
  try {
    req.body = JSON.parse(text) as unknown;
  } catch (error) {
    req.oversyncBodyError = { tooLarge: false, message: (error as Error).message };
  }
}

/**
 * Takes over what a host parser left: a JSON parser's value as it is, a text or raw parser's
 * string or bytes parsed here. An empty body is no body (body-parser turns it into `{}`, where
 * go-oversync answers a parse failure); nothing at all (a parser for another content type, or a
 * middleware that drained the stream) is no body too.
 */
function adoptHostBody(req: SyncRequest): void {
  const body: unknown = req.body;
  if (req.headers['content-length'] === '0' || body === undefined) parseJsonText(req, '');
  else if (typeof body === 'string') parseJsonText(req, body);
  else if (Buffer.isBuffer(body)) parseJsonText(req, body.toString('utf8'));
}
