import { Inject, Injectable, Logger } from '@nestjs/common';
import { ScopeInitializingError, ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import type { Kysely } from 'kysely';
import { DEMO_DB, type DemoDb } from '../database/demo-db.types.js';

/**
 * Makes sure a signed-in user has a `business.users` row, written by the server as a bundle of the
 * user's scope. Devices then receive the row (their posts' FK parent) instead of each inserting it
 * and conflicting with one another.
 */
@Injectable()
export class UserProfileService {
  readonly #logger = new Logger(UserProfileService.name);

  constructor(
    private readonly scope: ScopeWriteContext<DemoDb>,
    @Inject(DEMO_DB) private readonly db: Kysely<DemoDb>,
  ) {}

  /** Creates the user row when missing; never fails the login over it. */
  async ensureProfile(userId: string): Promise<void> {
    const existing = await this.db
      .selectFrom('business.users')
      .select('id')
      .where('_sync_scope_id', '=', userId)
      .where('id', '=', userId)
      .executeTakeFirst();
    if (existing) return;
    try {
      await this.createProfile(userId);
    } catch (error) {
      // A device is initialising the scope right now; it will upload or receive the row later.
      if (!(error instanceof ScopeInitializingError)) throw error;
      this.#logger.warn(`scope ${userId} is initializing; its user row was not created at login`);
    }
  }

  /** Inserts the user row (named after the id) as a server-originated bundle. */
  @ScopeWrite('dev-login')
  async createProfile(userId: string): Promise<void> {
    await this.scope.trx
      .insertInto('business.users')
      .values({ id: userId, name: userId })
      .onConflict((oc) => oc.columns(['_sync_scope_id', 'id']).doNothing())
      .execute();
  }
}
