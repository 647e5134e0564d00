import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import type { OversyncRequestState } from './sync-request.types.js';

/**
 * Counts every sync request as an in-flight operation so graceful shutdown can drain them. The
 * 503 `service_unavailable` of a draining server is each handler's own
 * `LifecycleService.assertAccepting()` call, placed after request parsing as in go-oversync.
 * Public `/syncx/*` routes are not counted (health must keep answering while draining).
 */
@Injectable()
export class SyncLifecycleInterceptor implements NestInterceptor {
  constructor(private readonly lifecycle: LifecycleService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<OversyncRequestState>();
    if (!req.oversyncActor) return next.handle();
    const end = this.lifecycle.enter();
    return new Observable((subscriber) => {
      // The handler runs inside the counted scope, so the engine does not count it a second time.
      const subscription = this.lifecycle
        .runCounted(() => next.handle())
        .subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            end();
            subscriber.error(error);
          },
          complete: () => {
            end();
            subscriber.complete();
          },
        });
      return () => {
        end();
        subscription.unsubscribe();
      };
    });
  }
}
