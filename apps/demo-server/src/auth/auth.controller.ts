import { Body, Controller, ForbiddenException, BadRequestException, Post } from '@nestjs/common';
import { demoConfig } from '../demo.config.js';
import { signJwt } from './hs256-jwt.js';

/** `POST /auth/dev-login { userId }` issues a token; development mode only. */
@Controller('auth')
export class AuthController {
  @Post('dev-login')
  login(@Body() body: { userId?: unknown }): { token: string; userId: string } {
    const config = demoConfig();
    if (!config.devLogin) throw new ForbiddenException('dev-login is disabled outside development mode');
    const userId = typeof body?.userId === 'string' ? body.userId.trim() : '';
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(userId)) throw new BadRequestException('userId must be 1–64 characters of [A-Za-z0-9_.@-]');
    return { token: signJwt({ sub: userId }, config.jwtSecret), userId };
  }
}
