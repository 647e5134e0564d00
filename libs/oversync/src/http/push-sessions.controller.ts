import { All, Delete, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SyncWireError } from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { PushChunkService } from '../push/push-chunk.service.js';
import { PushCommitService } from '../push/push-commit.service.js';
import { PushSessionService } from '../push/push-session.service.js';
import { decodeWireBody } from '../push/wire-body.util.js';
import { foldWireFields } from '../push/wire-field-names.util.js';
import { CurrentActor } from './current-actor.decorator.js';
import { PUSH_CHUNK_FIELDS, PUSH_ROW_FIELDS, PushChunkDto } from './dto/push-chunk.dto.js';
import { PUSH_SESSION_CREATE_FIELDS, PushSessionCreateDto } from './dto/push-session-create.dto.js';
import { OversyncController } from './oversync-controller.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import { sendJson } from './send-json.util.js';
import type { OversyncRequestState, SyncRequestActor } from './sync-request.types.js';

const CREATE_PARSE_FAILED = 'Failed to parse push session request';
const CHUNK_PARSE_FAILED = 'Failed to parse push chunk request';

type SyncRequest = Request & OversyncRequestState;

/** One uploaded row as Go decodes it: `null` is a zero-valued row; field names fold like Go's. */
function decodedRow(row: unknown): unknown {
  if (row === null) return {};
  return typeof row === 'object' && !Array.isArray(row)
    ? foldWireFields(row as Record<string, unknown>, PUSH_ROW_FIELDS)
    : row;
}

/** Staged push: create, upload chunks, commit and discard push sessions. */
@OversyncController('sync')
export class PushSessionsController {
  constructor(
    private readonly sessions: PushSessionService,
    private readonly chunks: PushChunkService,
    private readonly commits: PushCommitService,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** `POST /sync/push-sessions`: `staging` session or `already_committed` replay. */
  @Post('push-sessions')
  @OversyncRoute({
    failure: 'push_session_create_failed',
    failureMessage: 'Failed to create push session',
    invalid: 'invalid_request',
    invalidMessage: CREATE_PARSE_FAILED,
  })
  async create(
    @CurrentActor() actor: SyncRequestActor,
    @Req() req: SyncRequest,
    @Res() res: Response,
  ): Promise<void> {
    const body = decodeWireBody(PushSessionCreateDto, req, CREATE_PARSE_FAILED, PUSH_SESSION_CREATE_FIELDS);
    this.lifecycle.assertAccepting();
    const response = await this.sessions.create(actor, {
      sourceBundleId: body.source_bundle_id ?? 0,
      plannedRowCount: body.planned_row_count ?? 0,
      initializationId: (body.initialization_id ?? '').trim(),
    });
    sendJson(res, 200, response);
  }

  /** `POST /sync/push-sessions/{push_id}/chunks`. */
  @Post('push-sessions/:push_id/chunks')
  @OversyncRoute({
    failure: 'push_chunk_failed',
    failureMessage: 'Failed to upload push chunk',
    invalid: 'invalid_request',
    invalidMessage: CHUNK_PARSE_FAILED,
  })
  async uploadChunk(
    @CurrentActor() actor: SyncRequestActor,
    @Param('push_id') pushId: string,
    @Req() req: SyncRequest,
    @Res() res: Response,
  ): Promise<void> {
    // Go decodes a `null` row into a zero-valued row (then rejected by row validation), and matches
    // row field names case-insensitively too.
    const body = decodeWireBody(PushChunkDto, req, CHUNK_PARSE_FAILED, PUSH_CHUNK_FIELDS, (plain) =>
      Array.isArray(plain.rows) ? { ...plain, rows: plain.rows.map(decodedRow) } : plain,
    );
    this.lifecycle.assertAccepting();
    sendJson(res, 200, await this.chunks.upload(actor, pushId, body));
  }

  /** `POST /sync/push-sessions/{push_id}/commit` (no request body). */
  @Post('push-sessions/:push_id/commit')
  @OversyncRoute({
    failure: 'push_session_commit_failed',
    failureMessage: 'Failed to commit push session',
    invalid: 'invalid_request',
  })
  async commit(
    @CurrentActor() actor: SyncRequestActor,
    @Param('push_id') pushId: string,
    @Res() res: Response,
  ): Promise<void> {
    this.lifecycle.assertAccepting();
    sendJson(res, 200, await this.commits.commit(actor, pushId));
  }

  /** `DELETE /sync/push-sessions/{push_id}`: 204 with an empty body. */
  @Delete('push-sessions/:push_id')
  @OversyncRoute({
    failure: 'push_session_delete_failed',
    failureMessage: 'Failed to delete push session',
    invalid: 'invalid_request',
  })
  async discard(
    @CurrentActor() actor: SyncRequestActor,
    @Param('push_id') pushId: string,
    @Res() res: Response,
  ): Promise<void> {
    this.lifecycle.assertAccepting();
    await this.sessions.delete(actor, pushId);
    res.status(204).end();
  }

  /** Wrong method on `/sync/push-sessions`. */
  @All('push-sessions')
  @OversyncRoute({
    failure: 'push_session_create_failed',
    failureMessage: 'Failed to create push session',
    invalid: 'invalid_request',
  })
  createMethodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only POST method is allowed');
  }

  /** Wrong method on the chunk or commit routes. */
  @All(['push-sessions/:push_id/chunks', 'push-sessions/:push_id/commit'])
  @OversyncRoute({
    failure: 'push_chunk_failed',
    failureMessage: 'Failed to upload push chunk',
    invalid: 'invalid_request',
  })
  postMethodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only POST method is allowed');
  }

  /** Wrong method on `/sync/push-sessions/{push_id}`. */
  @All('push-sessions/:push_id')
  @OversyncRoute({
    failure: 'push_session_delete_failed',
    failureMessage: 'Failed to delete push session',
    invalid: 'invalid_request',
  })
  deleteMethodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only DELETE method is allowed');
  }
}
