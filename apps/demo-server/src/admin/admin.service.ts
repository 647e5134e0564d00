import { randomUUID } from 'node:crypto';
import { Injectable, NotFoundException } from '@nestjs/common';
import { ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import { sql } from 'kysely';
import type { DemoDb } from '../database/demo-db.types.js';

/**
 * Back-office edits. Each method is one captured bundle of the user's scope (`@ScopeWrite`), so the
 * change reaches that user's devices through normal pull and watch.
 */
@Injectable()
export class AdminService {
  constructor(private readonly scope: ScopeWriteContext<DemoDb>) {}

  /** Renames (or creates) the user row of `userId`. */
  @ScopeWrite('admin-panel')
  async renameUser(userId: string, name: string): Promise<{ id: string; name: string }> {
    await this.scope.trx
      .insertInto('business.users')
      .values({ id: userId, name })
      .onConflict((oc) => oc.columns(['_sync_scope_id', 'id']).doUpdateSet({ name, updated_at: sql<string>`now()` }))
      .execute();
    return { id: userId, name };
  }

  /** Adds a post authored by `userId` (creating the user row when missing). */
  @ScopeWrite('admin-panel')
  async addPost(userId: string, title: string, content: string): Promise<{ id: string }> {
    await this.#ensureUser(userId);
    const id = randomUUID();
    await this.scope.trx.insertInto('business.posts').values({ id, title, content, author_id: userId }).execute();
    return { id };
  }

  /** Deletes one post of `userId`. */
  @ScopeWrite('admin-panel')
  async deletePost(userId: string, postId: string): Promise<void> {
    const res = await this.scope.trx
      .deleteFrom('business.posts')
      .where('_sync_scope_id', '=', userId)
      .where('id', '=', postId)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw new NotFoundException(`post ${postId} of ${userId} not found`);
  }

  /** Seeds a scope with a user row and `count` posts, in one bundle. */
  @ScopeWrite('admin-panel')
  async seedScope(userId: string, count: number): Promise<{ posts: number }> {
    await this.#ensureUser(userId);
    const rows = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      title: `Seeded post ${i + 1}`,
      content: `Created by the admin panel for ${userId}.`,
      author_id: userId,
    }));
    if (rows.length > 0) await this.scope.trx.insertInto('business.posts').values(rows).execute();
    return { posts: rows.length };
  }

  async #ensureUser(userId: string): Promise<void> {
    await this.scope.trx
      .insertInto('business.users')
      .values({ id: userId, name: userId })
      .onConflict((oc) => oc.columns(['_sync_scope_id', 'id']).doNothing())
      .execute();
  }
}
