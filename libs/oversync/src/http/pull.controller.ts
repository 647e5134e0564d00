import { All, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SyncWireError } from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { sendJsonPieces } from '../pull/json-pieces.util.js';
import { PullService } from '../pull/pull.service.js';
import { querySearchParams } from '../pull/query-int.util.js';
import { CurrentActor } from './current-actor.decorator.js';
import { parsePullQuery } from './dto/pull-query.dto.js';
import { OversyncController } from './oversync-controller.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import type { SyncRequestActor } from './sync-request.types.js';

/** `GET /sync/pull`: complete committed bundles after a checkpoint, up to a frozen ceiling. */
@OversyncController('sync')
export class PullController {
  constructor(
    private readonly pulls: PullService,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** Answers `PullResponse`; the body is rendered from stored payload text, not re-serialised. */
  @Get('pull')
  @OversyncRoute({
    failure: 'pull_failed',
    failureMessage: 'Failed to process pull',
    invalid: 'invalid_request',
  })
  async pull(
    @CurrentActor() actor: SyncRequestActor,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const query = parsePullQuery(querySearchParams(req.originalUrl));
    this.lifecycle.assertAccepting();
    sendJsonPieces(res, await this.pulls.pullJsonPieces(actor.userId, query));
  }

  /** Any other method: `405 method_not_allowed`. */
  @All('pull')
  @OversyncRoute({
    failure: 'pull_failed',
    failureMessage: 'Failed to process pull',
    invalid: 'invalid_request',
  })
  methodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only GET method is allowed');
  }
}
