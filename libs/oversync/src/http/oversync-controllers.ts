import type { Type } from '@nestjs/common';

/** Controllers mounted by `OversyncModule` unless `routes: false`. */
export const OVERSYNC_CONTROLLERS: Type[] = [];

/** Providers the controllers need (guards, filters, protocol services), registered with the module. */
export const OVERSYNC_HTTP_PROVIDERS: Type[] = [];
