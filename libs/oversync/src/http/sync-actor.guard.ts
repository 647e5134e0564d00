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
    req.oversyncRoute = {
      failure: route?.failure ?? 'internal_error',
      failureMessage: route?.failureMessage ?? 'Internal server error',
      invalid,
    };
    // Express hands HEAD to GET handlers; go-oversync's handlers accept exactly GET (405), and a
    // HEAD must not open a watch stream or run a pull. Public routes check the method first, as
    // Go's health and status handlers do; /sync/* routes after the actor, like the other 405s.
    if (route?.public) {
      refuseHead(req);
      return true;
    }

    let userId: string | undefined | null;
    try {
      userId = this.options.resolveUserId(req);
    } catch {
      userId = undefined;
    }
    userId = typeof userId === 'string' ? userId.trim() : '';
    if (!userId)
      throw new SyncWireError('authentication_failed', 'authenticated user_id not found in request context');
    // The first of repeated headers, as Go's Header.Get reads it (Node joins them with ", ").
    const sourceId = req.headersDistinct[SOURCE_ID_HEADER.toLowerCase()]?.[0]?.trim() ?? '';
    if (!sourceId) throw new SyncWireError('invalid_request', `${SOURCE_ID_HEADER} header is required`);
    req.oversyncActor = { userId, sourceId };
    refuseHead(req);

    const bodyError = req.oversyncBodyError;
    if (bodyError) {
      if (bodyError.tooLarge) throw new SyncWireError('request_too_large', bodyError.message);
      throw new SyncWireError(invalid, route?.invalidMessage ?? bodyError.message);
    }
    return true;
  }
}

function refuseHead(req: Request): void {
  if (req.method === 'HEAD') throw new SyncWireError('method_not_allowed', 'Only GET method is allowed');
}
