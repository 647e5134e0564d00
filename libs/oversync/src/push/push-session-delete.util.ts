import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * Deletes the staged rows of the sessions listed by a `gone` CTE (their `push_id`s). The staged rows
 * carry no foreign key to their session (a per-row RI check tripled the cost of staging a chunk),
 * so every site that ends a session (commit, discard, replacement by a restarted push, TTL purge)
 * runs this in the statement that deletes the sessions.
 */
export const DELETE_STAGED_ROWS_OF_GONE =
  'DELETE FROM sync.push_session_rows r USING gone WHERE r.push_id = gone.push_id';

/**
 * Deletes the push sessions matching `where` (a condition on `sync.push_sessions`) and their staged
 * rows, in one statement.
 */
export async function deletePushSessions(trx: Kysely<unknown>, where: RawBuilder<unknown>): Promise<void> {
  await sql`
    WITH gone AS (DELETE FROM sync.push_sessions WHERE ${where} RETURNING push_id)
    ${sql.raw(DELETE_STAGED_ROWS_OF_GONE)}`.execute(trx);
}

/**
 * The same delete for one session as literal SQL text, for a multi-statement script.
 * @param sessionLiteral - the session's `push_id` as a SQL `uuid` literal.
 */
export function deletePushSessionScript(sessionLiteral: string): string {
  return `WITH gone AS (DELETE FROM sync.push_sessions WHERE push_id = ${sessionLiteral} RETURNING push_id) ${DELETE_STAGED_ROWS_OF_GONE}`;
}
