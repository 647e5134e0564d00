import type { Type } from '@nestjs/common';

/** Connect, push sessions and committed-bundle rows: controllers and the services behind them. */
export const WRITE_HTTP_CONTROLLERS: Type[] = [];
export const WRITE_HTTP_PROVIDERS: Type[] = [];
