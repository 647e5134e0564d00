import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ScopeInitializingError,
  ScopeWrite,
  ScopeWriteContext,
  ScopeWriteNoCapturedChangesError,
} from '@oversync/nestjs';
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
  /** Profile creations under way, by user id: concurrent logins of one user share one write. */
  readonly #pending = new Map<string, Promise<void>>();

  constructor(
    private readonly scope: ScopeWriteContext<DemoDb>,
    @Inject(DEMO_DB) private readonly db: Kysely<DemoDb>,
  ) {}

  /**
   * Creates the user row when missing; idempotent and safe to call concurrently.
   * @throws only for database failures (a scope being initialised by a device is not one).
   */
  ensureProfile(userId: string): Promise<void> {
    const pending = this.#pending.get(userId);
    if (pending) return pending;
    const created = this.#ensure(userId).finally(() => this.#pending.delete(userId));
    this.#pending.set(userId, created);
    return created;
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

  async #ensure(userId: string): Promise<void> {
    // Fast path outside the scope lock: most logins are of users who already have a row.
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
      // Under the scope lock the INSERT … DO NOTHING met a row created since the check above (by
      // another server instance, a device or the back office): the profile exists.
      if (error instanceof ScopeWriteNoCapturedChangesError) return;
      // A device is initialising the scope right now; it will upload or receive the row later.
      if (!(error instanceof ScopeInitializingError)) throw error;
      this.#logger.warn(`scope ${userId} is initializing; its user row was not created at login`);
    }
  }
}
