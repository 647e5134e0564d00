import { SetMetadata } from '@nestjs/common';

/** @internal Per-route error codes used by the guard and the exception filter. */
export interface OversyncRouteMetadata {
  /** Code for unexpected errors on this route (`push_chunk_failed`, …). */
  failure: string;
  /**
   * Message of that 500 answer: go-oversync's fixed text for the handler ("Failed to upload push
   * chunk", …); the cause is logged, never sent.
   */
  failureMessage: string;
  /** Code for an undecodable body or bad query on this route. @default 'invalid_request' */
  invalid?: string;
  /** Message for an undecodable body (`Failed to parse … request`); default: the parser's message. */
  invalidMessage?: string;
  /** Route needs no actor (`/syncx/*`). */
  public?: boolean;
}

export const OVERSYNC_ROUTE_METADATA = 'oversync:route';

/** Marks a controller method as an Oversync route and names its error codes. */
export const OversyncRoute = (metadata: OversyncRouteMetadata): MethodDecorator =>
  SetMetadata(OVERSYNC_ROUTE_METADATA, metadata);
