import { BadRequestException, Body, Controller, ForbiddenException, Inject, Post } from '@nestjs/common';
import { DEMO_CONFIG, type DemoConfig } from '../demo.config.js';
import { signJwt } from './hs256-jwt.js';
import { UserProfileService } from './user-profile.service.js';

/** `POST /auth/dev-login { userId }` issues a token; development mode only. */
@Controller('auth')
export class AuthController {
  constructor(
    @Inject(DEMO_CONFIG) private readonly config: DemoConfig,
    private readonly profiles: UserProfileService,
  ) {}

  @Post('dev-login')
  async login(@Body() body: { userId?: unknown }): Promise<{ token: string; userId: string }> {
    if (!this.config.devLogin) throw new ForbiddenException('dev-login is disabled outside development mode');
    const userId = typeof body?.userId === 'string' ? body.userId.trim() : '';
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(userId)) {
      throw new BadRequestException('userId must be 1–64 characters of [A-Za-z0-9_.@-]');
    }
    await this.profiles.ensureProfile(userId);
    return { token: signJwt({ sub: userId }, this.config.jwtSecret), userId };
  }
}
