import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { bearerToken } from '../auth/bearer-token.util.js';
import { DEMO_CONFIG, type DemoConfig } from '../demo.config.js';

/** Admin routes need `Authorization: Bearer <ADMIN_TOKEN>` (a separate secret from user tokens). */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(@Inject(DEMO_CONFIG) private readonly config: DemoConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const given = Buffer.from(bearerToken(header) ?? '');
    const expected = Buffer.from(this.config.adminToken);
    // An empty configured token must never match an empty given one (demoConfig refuses it too).
    if (expected.length === 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new UnauthorizedException('admin token required (Authorization: Bearer <ADMIN_TOKEN>)');
    }
    return true;
  }
}
