import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SOURCE_ID_HEADER } from '@oversync/protocol';
import type { Request } from 'express';
import { SyncWireError } from '../errors/index.js';
import { OVERSYNC_RESOLVED_OPTIONS } from '../oversync.internal-constants.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import { OVERSYNC_ROUTE_METADATA, type OversyncRouteMetadata } from './oversync-route.decorator.js';
import type { OversyncRequestState } from './sync-request.types.js';

/**
 * Establishes the actor of a `/sync/*` request, in go-oversync's order: trusted user id from the
 * host's auth (401 `authentication_failed`), then the `Oversync-Source-ID` header (400
 * `invalid_request`), then the body the middleware read (413 / the route's invalid code).
 * Bound to Oversync's controllers only.
 */
@Injectable()
export class SyncActorGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(OVERSYNC_RESOLVED_OPTIONS) private readonly options: ResolvedOversyncOptions,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request & OversyncRequestState>();
    const route = this.reflector.get<OversyncRouteMetadata | undefined>(
      OVERSYNC_ROUTE_METADATA,
      context.getHandler(),
    );
    const invalid = route?.invalid ?? 'invalid_request';
    req.oversyncRoute = { failure: route?.failure ?? 'internal_error', invalid };
    if (route?.public) return true;

    let userId: string | undefined | null;
    try {
      userId = this.options.resolveUserId(req);
    } catch {
      userId = undefined;
    }
    userId = typeof userId === 'string' ? userId.trim() : '';
    if (!userId)
      throw new SyncWireError('authentication_failed', 'authenticated user_id not found in request context');
    const header = req.headers[SOURCE_ID_HEADER.toLowerCase()];
    const sourceId = (Array.isArray(header) ? header[0] : header)?.trim() ?? '';
    if (!sourceId) throw new SyncWireError('invalid_request', `${SOURCE_ID_HEADER} header is required`);
    req.oversyncActor = { userId, sourceId };

    const bodyError = req.oversyncBodyError;
    if (bodyError) {
      if (bodyError.tooLarge) throw new SyncWireError('request_too_large', bodyError.message);
      throw new SyncWireError(invalid, route?.invalidMessage ?? bodyError.message);
    }
    return true;
  }
}
