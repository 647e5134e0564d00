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
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { AdminExceptionFilter } from './admin-exception.filter.js';
import { optionalText, postIdParam, requiredText, seedCount, userIdParam } from './admin-input.util.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { AdminService, type AdminPost } from './admin.service.js';

/** Back-office API (admin token): every write is a server-originated bundle of the user's scope. */
@Controller('admin/users/:userId')
@UseGuards(AdminTokenGuard)
@UseFilters(AdminExceptionFilter)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('posts')
  listPosts(@Param('userId') user: string): Promise<AdminPost[]> {
    return this.admin.listPosts(userIdParam(user));
  }

  @Post('rename')
  @HttpCode(200)
  rename(@Param('userId') user: string, @Body() body: { name?: unknown }) {
    return this.admin.renameUser(userIdParam(user), requiredText(body?.name, 'name', 100));
  }

  @Post('posts')
  @HttpCode(201)
  addPost(@Param('userId') user: string, @Body() body: { title?: unknown; content?: unknown }) {
    return this.admin.addPost(
      userIdParam(user),
      requiredText(body?.title, 'title', 200),
      optionalText(body?.content, 'content', ''),
    );
  }

  @Patch('posts/:postId')
  updatePost(
    @Param('userId') user: string,
    @Param('postId') post: string,
    @Body() body: { title?: unknown; content?: unknown },
  ): Promise<AdminPost> {
    const patch: { title?: string; content?: string } = {};
    if (body?.title !== undefined) patch.title = requiredText(body.title, 'title', 200);
    if (body?.content !== undefined) patch.content = optionalText(body.content, 'content', '');
    if (Object.keys(patch).length === 0) throw new BadRequestException('give title and/or content');
    return this.admin.updatePost(userIdParam(user), postIdParam(post), patch);
  }

  @Delete('posts/:postId')
  @HttpCode(204)
  async deletePost(@Param('userId') user: string, @Param('postId') post: string): Promise<void> {
    await this.admin.deletePost(userIdParam(user), postIdParam(post));
  }

  @Post('seed')
  @HttpCode(200)
  seed(@Param('userId') user: string, @Body() body: { posts?: unknown }) {
    return this.admin.seedScope(userIdParam(user), seedCount(body?.posts, 5));
  }
}
