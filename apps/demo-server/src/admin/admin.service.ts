import { randomUUID } from 'node:crypto';
import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import { sql, type Kysely } from 'kysely';
import { DEMO_DB, type DemoDb } from '../database/demo-db.types.js';

/** A post as the admin API returns it. */
export interface AdminPost {
  id: string;
  title: string;
  content: string;
  author_id: string | null;
  updated_at: string;
}

/**
 * Back-office edits. Each method is one captured bundle of the user's scope (`@ScopeWrite`), so the
 * change reaches that user's devices through normal pull and watch.
 */
@Injectable()
export class AdminService {
  constructor(
    private readonly scope: ScopeWriteContext<DemoDb>,
    @Inject(DEMO_DB) private readonly db: Kysely<DemoDb>,
  ) {}

  /** Lists the posts of `userId`, newest first (a plain read: reads need no bundle). */
  async listPosts(userId: string): Promise<AdminPost[]> {
    const rows = await this.db
      .selectFrom('business.posts')
      .select(['id', 'title', 'content', 'author_id', sql<string>`updated_at::text`.as('updated_at')])
      .where('_sync_scope_id', '=', userId)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => ({ ...r, content: r.content ?? '' }));
  }

  /** Renames (or creates) the user row of `userId`. */
  @ScopeWrite('admin-panel')
  async renameUser(userId: string, name: string): Promise<{ id: string; name: string }> {
    await this.scope.trx
      .insertInto('business.users')
      .values({ id: userId, name })
      .onConflict((oc) =>
        oc.columns(['_sync_scope_id', 'id']).doUpdateSet({ name, updated_at: sql<string>`now()` }),
      )
      .execute();
    return { id: userId, name };
  }

  /** Adds a post authored by `userId` (creating the user row when missing). */
  @ScopeWrite('admin-panel')
  async addPost(userId: string, title: string, content: string): Promise<{ id: string }> {
    await this.#ensureUser(userId);
    const id = randomUUID();
    await this.scope.trx
      .insertInto('business.posts')
      .values({ id, title, content, author_id: userId })
      .execute();
    return { id };
  }

  /** Changes the title and/or content of one post of `userId`. */
  @ScopeWrite('admin-panel')
  async updatePost(
    userId: string,
    postId: string,
    patch: { title?: string; content?: string },
  ): Promise<AdminPost> {
    const row = await this.scope.trx
      .updateTable('business.posts')
      .set({ ...patch, updated_at: sql<string>`now()` })
      .where('_sync_scope_id', '=', userId)
      .where('id', '=', postId)
      .returning(['id', 'title', 'content', 'author_id', sql<string>`updated_at::text`.as('updated_at')])
      .executeTakeFirst();
    if (!row) throw new NotFoundException(`post ${postId} of ${userId} not found`);
    return { ...row, content: row.content ?? '' };
  }

  /** Deletes one post of `userId`. */
  @ScopeWrite('admin-panel')
  async deletePost(userId: string, postId: string): Promise<void> {
    const res = await this.scope.trx
      .deleteFrom('business.posts')
      .where('_sync_scope_id', '=', userId)
      .where('id', '=', postId)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) === 0)
      throw new NotFoundException(`post ${postId} of ${userId} not found`);
  }

  /** Seeds a scope with a user row, `count` posts and one typed item, in one bundle. */
  @ScopeWrite('admin-panel')
  async seedScope(userId: string, count: number): Promise<{ posts: number; typedItems: number }> {
    await this.#ensureUser(userId);
    const start = Date.now();
    const rows = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      // Staggered so "newest first" lists them in a stable order.
      created_at: new Date(start + i).toISOString(),
      title: `Seeded post ${i + 1}`,
      content: `Created by the admin panel for ${userId}.`,
      author_id: userId,
    }));
    if (rows.length > 0) await this.scope.trx.insertInto('business.posts').values(rows).execute();
    await this.scope.trx
      .insertInto('business.typed_items')
      .values({
        id: randomUUID(),
        label: `Typed values for ${userId}`,
        data: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        seen_at: new Date().toISOString(),
        done: true,
        amount: '1234.50',
        meta: JSON.stringify({ source: 'admin-panel', tags: ['seed'] }),
      })
      .execute();
    return { posts: rows.length, typedItems: 1 };
  }

  async #ensureUser(userId: string): Promise<void> {
    await this.scope.trx
      .insertInto('business.users')
      .values({ id: userId, name: userId })
      .onConflict((oc) => oc.columns(['_sync_scope_id', 'id']).doNothing())
      .execute();
  }
}
