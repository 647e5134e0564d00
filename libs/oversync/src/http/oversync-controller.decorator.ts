import { applyDecorators, Controller, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import { SyncActorGuard } from './sync-actor.guard.js';
import { SyncExceptionFilter } from './sync-exception.filter.js';
import { SyncLifecycleInterceptor } from './sync-lifecycle.interceptor.js';

/**
 * `@Controller(path)` plus the actor guard, the lifecycle interceptor and the exception filter, so
 * they apply to Oversync's controllers only and never app-wide.
 */
export function OversyncController(path: string): ClassDecorator {
  return applyDecorators(
    Controller(path),
    UseGuards(SyncActorGuard),
    UseInterceptors(SyncLifecycleInterceptor),
    UseFilters(SyncExceptionFilter),
  );
}
