import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  UseGuards,
} from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard.js';
import { AdminService, type AdminPost } from './admin.service.js';

const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function text(value: unknown, field: string, max = 500): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw new BadRequestException(`${field} must be a non-empty string of at most ${max} characters`);
  }
  return value.trim();
}

function userId(value: string): string {
  if (!USER_ID.test(value))
    throw new BadRequestException('userId must be 1–64 characters of [A-Za-z0-9_.@-]');
  return value;
}

function postId(value: string): string {
  if (!UUID.test(value)) throw new BadRequestException('postId must be a UUID');
  return value.toLowerCase();
}

/** Back-office API (admin token): every write is a server-originated bundle of the user's scope. */
@Controller('admin/users/:userId')
@UseGuards(AdminTokenGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('posts')
  listPosts(@Param('userId') user: string): Promise<AdminPost[]> {
    return this.admin.listPosts(userId(user));
  }

  @Post('rename')
  @HttpCode(200)
  rename(@Param('userId') user: string, @Body() body: { name?: unknown }) {
    return this.admin.renameUser(userId(user), text(body?.name, 'name', 100));
  }

  @Post('posts')
  @HttpCode(201)
  addPost(@Param('userId') user: string, @Body() body: { title?: unknown; content?: unknown }) {
    const content = typeof body?.content === 'string' ? body.content : '';
    return this.admin.addPost(userId(user), text(body?.title, 'title', 200), content);
  }

  @Patch('posts/:postId')
  updatePost(
    @Param('userId') user: string,
    @Param('postId') post: string,
    @Body() body: { title?: unknown; content?: unknown },
  ): Promise<AdminPost> {
    const patch: { title?: string; content?: string } = {};
    if (body?.title !== undefined) patch.title = text(body.title, 'title', 200);
    if (body?.content !== undefined) {
      if (typeof body.content !== 'string') throw new BadRequestException('content must be a string');
      patch.content = body.content;
    }
    if (Object.keys(patch).length === 0) throw new BadRequestException('give title and/or content');
    return this.admin.updatePost(userId(user), postId(post), patch);
  }

  @Delete('posts/:postId')
  @HttpCode(204)
  async deletePost(@Param('userId') user: string, @Param('postId') post: string): Promise<void> {
    await this.admin.deletePost(userId(user), postId(post));
  }

  @Post('seed')
  @HttpCode(200)
  seed(@Param('userId') user: string, @Body() body: { posts?: unknown }) {
    const count = body?.posts === undefined ? 5 : Number(body.posts);
    if (!Number.isInteger(count) || count < 0 || count > 10000) {
      throw new BadRequestException('posts must be an integer 0–10000');
    }
    return this.admin.seedScope(userId(user), count);
  }
}
