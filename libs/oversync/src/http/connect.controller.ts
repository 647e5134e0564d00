import { All, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ConnectService } from '../connect/connect.service.js';
import { SyncWireError } from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { decodeWireBody } from '../push/wire-body.util.js';
import { CurrentActor } from './current-actor.decorator.js';
import { CONNECT_REQUEST_FIELDS, ConnectRequestDto } from './dto/connect-request.dto.js';
import { OversyncController } from './oversync-controller.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import { sendJson } from './send-json.util.js';
import type { OversyncRequestState, SyncRequestActor } from './sync-request.types.js';

const PARSE_FAILED = 'Failed to parse connect request';

/** `POST /sync/connect`: first-connect lifecycle resolution. */
@OversyncController('sync')
export class ConnectController {
  constructor(
    private readonly connectService: ConnectService,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** Answers `remote_authoritative`, `initialize_local`, `initialize_empty` or `retry_later` (all 200). */
  @Post('connect')
  @OversyncRoute({
    failure: 'connect_failed',
    failureMessage: 'Failed to resolve connect lifecycle',
    invalid: 'invalid_request',
    invalidMessage: PARSE_FAILED,
  })
  async connect(
    @CurrentActor() actor: SyncRequestActor,
    @Req() req: Request & OversyncRequestState,
    @Res() res: Response,
  ): Promise<void> {
    const body = decodeWireBody(ConnectRequestDto, req, PARSE_FAILED, CONNECT_REQUEST_FIELDS);
    this.lifecycle.assertAccepting();
    sendJson(res, 200, await this.connectService.connect(actor, body.has_local_pending_rows === true));
  }

  /** Any other method: `405 method_not_allowed`, as go-oversync's handler answers. */
  @All('connect')
  @OversyncRoute({
    failure: 'connect_failed',
    failureMessage: 'Failed to resolve connect lifecycle',
    invalid: 'invalid_request',
  })
  methodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only POST method is allowed');
  }
}
