import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { DEMO_CONFIG, type DemoConfig } from '../demo.config.js';

/** Admin routes need `Authorization: Bearer <ADMIN_TOKEN>` (a separate secret from user JWTs). */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(@Inject(DEMO_CONFIG) private readonly config: DemoConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    const expected = Buffer.from(this.config.adminToken);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new UnauthorizedException('admin token required (Authorization: Bearer <ADMIN_TOKEN>)');
    }
    return true;
  }
}
