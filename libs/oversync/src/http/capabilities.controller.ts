import { All, Controller, Get, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { CapabilitiesService } from '../capabilities/capabilities.service.js';
import { SyncWireError } from '../errors/index.js';
import { CurrentActor } from './current-actor.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import { sendJson } from './send-json.util.js';
import { SyncActorGuard } from './sync-actor.guard.js';
import { SyncExceptionFilter } from './sync-exception.filter.js';
import type { SyncRequestActor } from './sync-request.types.js';

/**
 * `GET /sync/capabilities`. Behind the actor guard like every `/sync/*` route, but without the
 * lifecycle interceptor: go-oversync answers capabilities even while draining.
 */
@Controller('sync')
@UseGuards(SyncActorGuard)
@UseFilters(SyncExceptionFilter)
export class CapabilitiesController {
  constructor(private readonly capabilities: CapabilitiesService) {}

  /** The protocol surface, with `bundle_change_watch` filtered by the per-actor watch policy. */
  @Get('capabilities')
  @OversyncRoute({
    failure: 'internal_error',
    failureMessage: 'Failed to get capabilities',
    invalid: 'invalid_request',
  })
  get(@CurrentActor() actor: SyncRequestActor, @Res() res: Response): void {
    sendJson(res, 200, this.capabilities.capabilities(actor));
  }

  /** Any other method: `405 method_not_allowed`. */
  @All('capabilities')
  @OversyncRoute({
    failure: 'internal_error',
    failureMessage: 'Failed to get capabilities',
    invalid: 'invalid_request',
  })
  methodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only GET method is allowed');
  }
}
