import { All, Get, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SyncWireError } from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { sendJsonPieces } from '../pull/json-pieces.util.js';
import { querySearchParams } from '../pull/query-int.util.js';
import {
  checkCommittedRowsParams,
  parseCommittedRowsParams,
} from '../push/committed-bundle-rows-query.util.js';
import { CommittedBundleRowsService } from '../push/committed-bundle-rows.service.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { CurrentActor } from './current-actor.decorator.js';
import { OversyncController } from './oversync-controller.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import type { SyncRequestActor } from './sync-request.types.js';

/** `GET /sync/committed-bundles/{bundle_seq}/rows`: page through one committed bundle. */
@OversyncController('sync')
export class CommittedBundlesController {
  constructor(
    private readonly rows: CommittedBundleRowsService,
    private readonly runtime: OversyncRuntime,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** One page of rows with the bundle's metadata; payloads are served as their hashed bytes. */
  @Get('committed-bundles/:bundle_seq/rows')
  @OversyncRoute({
    failure: 'committed_bundle_rows_failed',
    failureMessage: 'Failed to fetch committed bundle rows',
    invalid: 'committed_bundle_chunk_invalid',
  })
  async readRows(
    @CurrentActor() actor: SyncRequestActor,
    @Param('bundle_seq') bundleSeq: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const params = parseCommittedRowsParams(bundleSeq, querySearchParams(req.originalUrl));
    this.lifecycle.assertAccepting();
    const parsed = checkCommittedRowsParams(params, this.runtime.options.limits);
    sendJsonPieces(res, await this.rows.readPageJsonPieces(actor.userId, parsed));
  }

  /** Any other method: `405 method_not_allowed`. */
  @All('committed-bundles/:bundle_seq/rows')
  @OversyncRoute({
    failure: 'committed_bundle_rows_failed',
    failureMessage: 'Failed to fetch committed bundle rows',
    invalid: 'committed_bundle_chunk_invalid',
  })
  methodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only GET method is allowed');
  }
}
