import type { Type } from '@nestjs/common';

/** Pull, snapshot sessions, capabilities, watch, health and status: controllers and services. */
export const READ_HTTP_CONTROLLERS: Type[] = [];
export const READ_HTTP_PROVIDERS: Type[] = [];
