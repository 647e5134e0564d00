import type { Type } from '@nestjs/common';
import { ConnectService } from '../connect/connect.service.js';
import { CommittedBundleRowsService } from '../push/committed-bundle-rows.service.js';
import { PushChunkService } from '../push/push-chunk.service.js';
import { PushCommitService } from '../push/push-commit.service.js';
import { PushSessionService } from '../push/push-session.service.js';
import { CommittedBundlesController } from './committed-bundles.controller.js';
import { ConnectController } from './connect.controller.js';
import { PushSessionsController } from './push-sessions.controller.js';

/** Connect, push sessions and committed-bundle rows: controllers and the services behind them. */
export const WRITE_HTTP_CONTROLLERS: Type[] = [
  ConnectController,
  PushSessionsController,
  CommittedBundlesController,
];
export const WRITE_HTTP_PROVIDERS: Type[] = [
  ConnectService,
  PushSessionService,
  PushChunkService,
  PushCommitService,
  CommittedBundleRowsService,
];
