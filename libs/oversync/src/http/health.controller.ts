import { Controller, Get, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { StatusResponse } from '@oversync/protocol';
import type { Response } from 'express';
import { CapabilitiesService } from '../capabilities/capabilities.service.js';
import { StatusQuery } from '../status/status.query.js';
import { OversyncRoute } from './oversync-route.decorator.js';
import { sendJson } from './send-json.util.js';
import { SyncActorGuard } from './sync-actor.guard.js';
import { SyncExceptionFilter } from './sync-exception.filter.js';

/**
 * `GET /syncx/health` and `GET /syncx/status`: the operability snapshot, with no auth and no
 * source header. Not counted as in-flight work, so both keep answering while the service drains.
 */
@Controller('syncx')
@UseGuards(SyncActorGuard)
@UseFilters(SyncExceptionFilter)
export class HealthController {
  constructor(
    private readonly status: StatusQuery,
    private readonly capabilities: CapabilitiesService,
  ) {}

  /** `StatusResponse`; HTTP 503 when `status` is `unhealthy` (draining, closed, or a floor ahead). */
  @Get('health')
  @OversyncRoute({ failure: 'health_failed', failureMessage: 'Failed to get health status', public: true })
  async health(@Res() res: Response): Promise<void> {
    const body = await this.#read();
    sendJson(res, body.status === 'healthy' ? 200 : 503, body);
  }

  /** `StatusResponse`, always HTTP 200. */
  @Get('status')
  @OversyncRoute({ failure: 'status_failed', failureMessage: 'Failed to get service status', public: true })
  async statusSnapshot(@Res() res: Response): Promise<void> {
    sendJson(res, 200, await this.#read());
  }

  async #read(): Promise<StatusResponse> {
    const s = await this.status.read();
    // go-oversync's field order; `features` is the global (not actor-filtered) map.
    return {
      status: s.status,
      version: s.version,
      app_name: s.app_name,
      lifecycle: s.lifecycle,
      accepting_operations: s.accepting_operations,
      inflight_operations: s.inflight_operations,
      registered_tables: s.registered_tables,
      features: this.capabilities.features(),
      user_state_retention_floor_ahead_count: s.user_state_retention_floor_ahead_count,
      latest_bundle_seq_max: s.latest_bundle_seq_max,
      retained_bundle_floor_min: s.retained_bundle_floor_min,
      retained_bundle_floor_max: s.retained_bundle_floor_max,
      retained_bundle_window_min: s.retained_bundle_window_min,
      retained_bundle_window_max: s.retained_bundle_window_max,
      history_pruned_error_count: s.history_pruned_error_count,
      accepted_push_replay_count: s.accepted_push_replay_count,
      rejected_registered_write_count: s.rejected_registered_write_count,
      committed_bundle_count: s.committed_bundle_count,
      committed_bundle_bytes: s.committed_bundle_bytes,
    };
  }
}
