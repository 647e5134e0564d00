import { BadRequestException, Body, Controller, Delete, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard.js';
import { AdminService } from './admin.service.js';

const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;

function text(value: unknown, field: string, max = 500): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw new BadRequestException(`${field} must be a non-empty string of at most ${max} characters`);
  }
  return value.trim();
}

function userId(value: string): string {
  if (!USER_ID.test(value)) throw new BadRequestException('userId must be 1–64 characters of [A-Za-z0-9_.@-]');
  return value;
}

/** Back-office API (admin token): every call is a server-originated bundle of the user's scope. */
@Controller('admin/users/:userId')
@UseGuards(AdminTokenGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Post('rename')
  @HttpCode(200)
  rename(@Param('userId') user: string, @Body() body: { name?: unknown }) {
    return this.admin.renameUser(userId(user), text(body?.name, 'name', 100));
  }

  @Post('posts')
  @HttpCode(201)
  addPost(@Param('userId') user: string, @Body() body: { title?: unknown; content?: unknown }) {
    return this.admin.addPost(userId(user), text(body?.title, 'title', 200), typeof body?.content === 'string' ? body.content : '');
  }

  @Delete('posts/:postId')
  @HttpCode(204)
  async deletePost(@Param('userId') user: string, @Param('postId') postId: string): Promise<void> {
    await this.admin.deletePost(userId(user), postId);
  }

  @Post('seed')
  @HttpCode(200)
  seed(@Param('userId') user: string, @Body() body: { posts?: unknown }) {
    const count = body?.posts === undefined ? 5 : Number(body.posts);
    if (!Number.isInteger(count) || count < 0 || count > 10000) throw new BadRequestException('posts must be an integer 0–10000');
    return this.admin.seedScope(userId(user), count);
  }
}
