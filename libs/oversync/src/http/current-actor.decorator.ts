import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { OversyncRequestState, SyncRequestActor } from './sync-request.types.js';

/** Injects the actor the {@link SyncActorGuard} established. */
export const CurrentActor = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): SyncRequestActor => {
    const actor = ctx.switchToHttp().getRequest<OversyncRequestState>().oversyncActor;
    if (!actor) throw new Error('CurrentActor used on a route without SyncActorGuard');
    return actor;
  },
);
