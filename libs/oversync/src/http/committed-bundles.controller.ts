import { All, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { SyncWireError } from '../errors/index.js';
import { serializeCommittedBundleRowsPage } from '../push/committed-bundle-rows-json.util.js';
import { parseCommittedRowsQuery } from '../push/committed-bundle-rows-query.util.js';
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
  ) {}

  /** One page of rows with the bundle's metadata; payloads are served as their hashed bytes. */
  @Get('committed-bundles/:bundle_seq/rows')
  @OversyncRoute({ failure: 'committed_bundle_rows_failed', invalid: 'committed_bundle_chunk_invalid' })
  async readRows(
    @CurrentActor() actor: SyncRequestActor,
    @Param('bundle_seq') bundleSeq: string,
    @Query() query: Record<string, unknown>,
    @Res() res: Response,
  ): Promise<void> {
    const parsed = parseCommittedRowsQuery(bundleSeq, query, this.runtime.options.limits);
    const text = serializeCommittedBundleRowsPage(await this.rows.readPage(actor.userId, parsed));
    res.status(200).setHeader('Content-Type', 'application/json');
    res.end(`${text}\n`);
  }

  /** Any other method: `405 method_not_allowed`. */
  @All('committed-bundles/:bundle_seq/rows')
  @OversyncRoute({ failure: 'committed_bundle_rows_failed', invalid: 'committed_bundle_chunk_invalid' })
  methodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only GET method is allowed');
  }
}
