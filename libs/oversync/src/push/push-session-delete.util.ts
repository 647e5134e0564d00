import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * Deletes the push sessions matching `where` (a condition on `sync.push_sessions`) and their staged
 * rows, in one statement. The staged rows carry no foreign key to their session (a per-row RI check
 * tripled the cost of staging a chunk), so their removal is explicit here, at every site that ends
 * a session: commit, discard, replacement by a restarted push and TTL purge.
 */
export async function deletePushSessions(trx: Kysely<unknown>, where: RawBuilder<unknown>): Promise<void> {
  await sql`
    WITH gone AS (DELETE FROM sync.push_sessions WHERE ${where} RETURNING push_id)
    DELETE FROM sync.push_session_rows r USING gone WHERE r.push_id = gone.push_id`.execute(trx);
}
