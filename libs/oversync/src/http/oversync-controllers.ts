import type { Type } from '@nestjs/common';
import type { DiscoveryService, HttpAdapterHost } from '@nestjs/core';
import { OversyncConfigError } from '../errors/index.js';
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

/**
 * True when the app runs on Express, where the sync routes and their body middleware work. On
 * another platform (Fastify) mounted routes stop start-up with this error instead of Fastify's
 * duplicate-route one; with `routes: false` the middleware stays off the host's own routes, since
 * it would take the body Fastify's parser then waits for, for ever.
 * @throws OversyncConfigError when the routes are mounted on a platform other than Express.
 */
export function runsOnExpress(adapterHost: HttpAdapterHost, discovery: DiscoveryService): boolean {
  const platform = adapterHost.httpAdapter?.getType();
  if (platform === undefined || platform === 'express') return true;
  const mounted = discovery
    .getControllers()
    .some((wrapper) => OVERSYNC_CONTROLLERS.includes(wrapper.metatype as Type));
  if (mounted) {
    throw new OversyncConfigError(
      `OversyncModule's /sync/* routes run on Nest's Express platform, and this app runs on ${platform}. Fix: create the app with @nestjs/platform-express, or pass routes: false and serve the protocol from your own controllers with the exported services.`,
      { platform },
    );
  }
  return false;
}
