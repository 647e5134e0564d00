import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { OVERSYNC_RESOLVED_OPTIONS } from '../oversync.internal-constants.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import type { OversyncRequestState } from './sync-request.types.js';

type SyncRequest = Request & OversyncRequestState & { _body?: boolean };

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
    if (req._body || req.method === 'GET' || req.method === 'DELETE' || req.method === 'HEAD') {
      // Already parsed by a host-level parser, or a method without a body.
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
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        req.oversyncEmptyBody = true;
        req.body = undefined;
      } else {
        try {
          req.body = JSON.parse(text) as unknown;
        } catch (error) {
          req.oversyncBodyError = { tooLarge: false, message: (error as Error).message };
        }
      }
      next();
    });
  }
}
