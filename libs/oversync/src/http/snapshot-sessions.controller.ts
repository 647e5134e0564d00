import { All, Delete, Get, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SnapshotChunkInvalidError, SyncWireError } from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { OVERSYNC_RESOLVED_OPTIONS } from '../oversync.internal-constants.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import { sendJsonPieces } from '../pull/json-pieces.util.js';
import { querySearchParams } from '../pull/query-int.util.js';
import { SnapshotSessionService } from '../snapshot/snapshot-session.service.js';
import { CurrentActor } from './current-actor.decorator.js';
import { checkSnapshotChunkQuery, parseSnapshotChunkQuery } from './dto/snapshot-chunk-query.dto.js';
import { parseSnapshotCreateBody } from './dto/snapshot-create.dto.js';
import { OversyncController } from './oversync-controller.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import { sendJson } from './send-json.util.js';
import type { SyncRequestActor } from './sync-request.types.js';

/** Snapshot sessions: create (optionally rotating the source), page through, delete. */
@OversyncController('sync')
export class SnapshotSessionsController {
  constructor(
    private readonly snapshots: SnapshotSessionService,
    @Inject(OVERSYNC_RESOLVED_OPTIONS) private readonly options: ResolvedOversyncOptions,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** `POST /sync/snapshot-sessions` → `SnapshotSession`. */
  @Post('snapshot-sessions')
  @OversyncRoute({
    failure: 'snapshot_session_create_failed',
    failureMessage: 'Failed to create snapshot session',
    invalid: 'snapshot_session_invalid',
    invalidMessage: 'Failed to parse snapshot session request',
  })
  async create(
    @CurrentActor() actor: SyncRequestActor,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const replacement = parseSnapshotCreateBody(req.body as unknown);
    this.lifecycle.assertAccepting();
    sendJson(res, 200, await this.snapshots.create(actor, replacement));
  }

  /** `GET /sync/snapshot-sessions/{snapshot_id}` → `SnapshotChunkResponse`. */
  @Get('snapshot-sessions/:snapshotId')
  @OversyncRoute({
    failure: 'snapshot_chunk_failed',
    failureMessage: 'Failed to get snapshot chunk',
    invalid: 'snapshot_chunk_invalid',
  })
  async chunk(
    @CurrentActor() actor: SyncRequestActor,
    @Param('snapshotId') snapshotId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const parsed = parseSnapshotChunkQuery(
      querySearchParams(req.originalUrl),
      this.options.limits.defaultRowsPerSnapshotChunk,
    );
    this.lifecycle.assertAccepting();
    const query = checkSnapshotChunkQuery(parsed);
    const parts = await this.snapshots.chunkJson(
      actor.userId,
      snapshotId,
      query.afterRowOrdinal,
      query.maxRows,
      query.afterRowOrdinalText,
    );
    // Written piece by piece: a page of megabytes is never concatenated into one string.
    sendJsonPieces(res, parts);
  }

  /** `DELETE /sync/snapshot-sessions/{snapshot_id}` → 204. */
  @Delete('snapshot-sessions/:snapshotId')
  @OversyncRoute({
    failure: 'snapshot_session_delete_failed',
    failureMessage: 'Failed to delete snapshot session',
    invalid: 'snapshot_chunk_invalid',
  })
  async remove(
    @CurrentActor() actor: SyncRequestActor,
    @Param('snapshotId') snapshotId: string,
    @Res() res: Response,
  ): Promise<void> {
    this.lifecycle.assertAccepting();
    await this.snapshots.delete(actor.userId, snapshotId);
    res.status(204).end();
  }

  /**
   * A blank id (`GET|DELETE /sync/snapshot-sessions/`) is 400 `snapshot_chunk_invalid`, as in
   * go-oversync. Express also routes the bare collection path here (non-strict trailing slash),
   * where only POST exists: that is 405.
   */
  @Get('snapshot-sessions/')
  @OversyncRoute({
    failure: 'snapshot_chunk_failed',
    failureMessage: 'Failed to get snapshot chunk',
    invalid: 'snapshot_chunk_invalid',
  })
  chunkWithoutId(@Req() req: Request): never {
    assertTrailingSlash(req);
    this.lifecycle.assertAccepting();
    throw new SnapshotChunkInvalidError('snapshot_id is required');
  }

  /** See {@link chunkWithoutId}. */
  @Delete('snapshot-sessions/')
  @OversyncRoute({
    failure: 'snapshot_session_delete_failed',
    failureMessage: 'Failed to delete snapshot session',
    invalid: 'snapshot_chunk_invalid',
  })
  deleteWithoutId(@Req() req: Request): never {
    assertTrailingSlash(req);
    this.lifecycle.assertAccepting();
    throw new SnapshotChunkInvalidError('snapshot_id is required');
  }

  /** Any other method on `/sync/snapshot-sessions`: `405 method_not_allowed`. */
  @All('snapshot-sessions')
  @OversyncRoute({
    failure: 'snapshot_session_create_failed',
    failureMessage: 'Failed to create snapshot session',
    invalid: 'snapshot_session_invalid',
  })
  createMethodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only POST method is allowed');
  }

  /** Any other method on `/sync/snapshot-sessions/{snapshot_id}`: `405 method_not_allowed`. */
  @All('snapshot-sessions/:snapshotId')
  @OversyncRoute({
    failure: 'snapshot_chunk_failed',
    failureMessage: 'Failed to get snapshot chunk',
    invalid: 'snapshot_chunk_invalid',
  })
  sessionMethodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only GET and DELETE methods are allowed');
  }
}

/** `/sync/snapshot-sessions` without the slash names the collection, which only takes POST. */
function assertTrailingSlash(req: Request): void {
  if (!(req.originalUrl ?? '').split('?')[0].endsWith('/')) {
    throw new SyncWireError('method_not_allowed', 'Only POST method is allowed');
  }
}
