import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { DEMO_CONFIG, type DemoConfig } from '../demo.config.js';
import { bearerToken } from './bearer-token.util.js';
import { verifyJwt } from './hs256-jwt.js';

/** Sets `req.user = { id }` from a valid `Authorization: Bearer <jwt>`, as a real app's auth would. */
@Injectable()
export class JwtAuthMiddleware implements NestMiddleware {
  constructor(@Inject(DEMO_CONFIG) private readonly config: DemoConfig) {}

  use(req: Request & { user?: { id: string } }, _res: Response, next: NextFunction): void {
    const token = bearerToken(req.headers.authorization);
    const claims = token === undefined ? undefined : verifyJwt(token, this.config.jwtSecret);
    if (claims && typeof claims.sub === 'string' && claims.sub.trim() !== '') req.user = { id: claims.sub };
    next();
  }
}
