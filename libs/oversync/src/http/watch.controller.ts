import { All, Get, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CapabilitiesService } from '../capabilities/capabilities.service.js';
import { ServiceUnavailableError, SyncWireError } from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { OVERSYNC_RESOLVED_OPTIONS } from '../oversync.internal-constants.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import { parseQueryInt, querySearchParams } from '../pull/query-int.util.js';
import { BundleWatchService } from '../watch/bundle-watch.service.js';
import { SseWatchStream } from '../watch/sse-watch-stream.util.js';
import { CurrentActor } from './current-actor.decorator.js';
import { OversyncController } from './oversync-controller.decorator.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import type { SyncRequestActor } from './sync-request.types.js';

const invalid = (message: string): Error => new SyncWireError('invalid_request', message);

/**
 * `GET /sync/watch?after_bundle_seq=N`: a Server-Sent Events stream of bundle wake-ups for the
 * caller's scope. The handler returns once the stream is set up, so an open stream is not counted
 * as in-flight work; shutdown ends every stream instead.
 */
@OversyncController('sync')
export class WatchController {
  constructor(
    private readonly watch: BundleWatchService,
    private readonly capabilities: CapabilitiesService,
    @Inject(OVERSYNC_RESOLVED_OPTIONS) private readonly options: ResolvedOversyncOptions,
    private readonly lifecycle: LifecycleService,
  ) {}

  /** Checks in go-oversync's order: policy (403), query (400), disabled (503), scope (409). */
  @Get('watch')
  @OversyncRoute({
    failure: 'bundle_change_watch_failed',
    failureMessage: 'Failed to subscribe bundle change watch',
    invalid: 'invalid_request',
  })
  async open(
    @CurrentActor() actor: SyncRequestActor,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const { watch } = this.options;
    if (watch.enabled && !this.capabilities.watchAllowed(actor)) {
      throw new SyncWireError(
        'bundle_change_watch_forbidden',
        'Bundle change watch is not enabled for this client',
      );
    }
    const after = parseQueryInt(querySearchParams(req.originalUrl), 'after_bundle_seq', invalid) ?? 0;
    if (after < 0) throw invalid('after_bundle_seq must be >= 0');
    if (!watch.enabled)
      throw new SyncWireError('bundle_change_watch_disabled', 'Bundle change watch is disabled');
    this.lifecycle.assertAccepting();

    const stream: SseWatchStream = new SseWatchStream(
      res,
      watch.heartbeatIntervalSeconds * 1000,
      (subscriber) => {
        if (subscriber) this.watch.unsubscribe(subscriber);
        this.watch.untrack(stream);
      },
    );
    // The response's 'close' tells that the client left while we subscribed. `req.destroyed` does
    // not: Node also sets it once the request body was read to its end, which a host's body
    // parser does to a GET sent with `Content-Length: 0`, and such a watch would never be answered.
    let left = false;
    const onLeft = (): void => {
      left = true;
    };
    res.once('close', onLeft);
    const subscriber = await this.watch
      .subscribe(actor.userId, after, () => stream.flush())
      .finally(() => res.off('close', onLeft));
    if (left || !res.socket || res.socket.destroyed) {
      // The client left while we subscribed: no 'close' event is coming any more.
      this.watch.unsubscribe(subscriber);
      return;
    }
    if (!this.watch.track(stream)) {
      // Shutdown began while we subscribed and has already ended the open streams.
      this.watch.unsubscribe(subscriber);
      throw new ServiceUnavailableError();
    }
    stream.start(subscriber);
  }

  /** Any other method: `405 method_not_allowed`. */
  @All('watch')
  @OversyncRoute({
    failure: 'bundle_change_watch_failed',
    failureMessage: 'Failed to subscribe bundle change watch',
    invalid: 'invalid_request',
  })
  methodNotAllowed(): never {
    throw new SyncWireError('method_not_allowed', 'Only GET method is allowed');
  }
}
