import type { Type } from '@nestjs/common';
import { CapabilitiesService } from '../capabilities/capabilities.service.js';
import { PullService } from '../pull/pull.service.js';
import { SnapshotSessionService } from '../snapshot/snapshot-session.service.js';
import { BundleChangeHub } from '../watch/bundle-change.hub.js';
import { BundleChangeListener } from '../watch/bundle-change.listener.js';
import { BundleWatchService } from '../watch/bundle-watch.service.js';
import { CapabilitiesController } from './capabilities.controller.js';
import { HealthController } from './health.controller.js';
import { PullController } from './pull.controller.js';
import { SnapshotSessionsController } from './snapshot-sessions.controller.js';
import { WatchController } from './watch.controller.js';

/** Pull, snapshot sessions, capabilities, watch, health and status: controllers. */
export const READ_HTTP_CONTROLLERS: Type[] = [
  PullController,
  SnapshotSessionsController,
  CapabilitiesController,
  WatchController,
  HealthController,
];

/** The services behind the read routes (registered even with `routes: false`). */
export const READ_HTTP_PROVIDERS: Type[] = [
  PullService,
  SnapshotSessionService,
  CapabilitiesService,
  BundleChangeHub,
  BundleChangeListener,
  BundleWatchService,
];
