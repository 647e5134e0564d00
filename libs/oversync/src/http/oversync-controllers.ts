import type { Type } from '@nestjs/common';
import { READ_HTTP_CONTROLLERS, READ_HTTP_PROVIDERS } from './read-http.registry.js';
import { WRITE_HTTP_CONTROLLERS, WRITE_HTTP_PROVIDERS } from './write-http.registry.js';
import { SyncActorGuard } from './sync-actor.guard.js';
import { SyncLifecycleInterceptor } from './sync-lifecycle.interceptor.js';

/** Controllers mounted by `OversyncModule` unless `routes: false`. */
export const OVERSYNC_CONTROLLERS: Type[] = [...WRITE_HTTP_CONTROLLERS, ...READ_HTTP_CONTROLLERS];

/** Providers of the protocol services and HTTP plumbing, registered with the module. */
export const OVERSYNC_HTTP_PROVIDERS: Type[] = [
  SyncActorGuard,
  SyncLifecycleInterceptor,
  ...WRITE_HTTP_PROVIDERS,
  ...READ_HTTP_PROVIDERS,
];
