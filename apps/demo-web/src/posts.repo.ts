import { randomUuid } from '@oversync/client';
import { type Database, type SqlValue } from 'sql.js';

/** A post row as the page shows it. */
export interface PostRow {
  id: string;
  title: string;
  content: string;
  authorId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A typed_items row, decoded for display. */
export interface TypedItemRow {
  id: string;
  label: string;
  dataHex: string;
  seenAt: string | null;
  done: boolean;
  amount: string | null;
  meta: string | null;
}

function rows(db: Database, sql: string, params: SqlValue[] = []): SqlValue[][] {
  const stmt = db.prepare(sql);
  try {
    stmt.bind(params);
    const out: SqlValue[][] = [];
    while (stmt.step()) out.push(stmt.get());
    return out;
  } finally {
    stmt.free();
  }
}

const str = (value: SqlValue): string => (value === null ? '' : String(value));

function hex(value: SqlValue): string {
  if (!(value instanceof Uint8Array)) return '';
  return Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Plain SQL over the local tables. The app writes with ordinary statements; the client's triggers
 * capture every change for upload.
 */
export class PostsRepo {
  constructor(private readonly db: Database) {}

  /** Posts, newest first. */
  list(): PostRow[] {
    return rows(
      this.db,
      'SELECT id, title, content, author_id, created_at, updated_at FROM posts ORDER BY created_at DESC, id',
    ).map(([id, title, content, authorId, createdAt, updatedAt]) => ({
      id: str(id),
      title: str(title),
      content: str(content),
      authorId: authorId === null ? null : str(authorId),
      createdAt: str(createdAt),
      updatedAt: str(updatedAt),
    }));
  }

  /** The display name of `userId`, when its row has arrived. */
  userName(userId: string): string | undefined {
    const [row] = rows(this.db, 'SELECT name FROM users WHERE id = ?', [userId]);
    return row ? str(row[0]) : undefined;
  }

  /** Adds a post by `authorId` and returns its id (a UUID, as the server's `uuid` key expects). */
  add(authorId: string, title: string, content: string): string {
    // Not crypto.randomUUID(): browsers offer it only in secure contexts, and the demo is also
    // opened as http://<lan-ip>:3000 from other devices.
    const id = randomUuid();
    const now = new Date().toISOString();
    this.db.run(
      'INSERT INTO posts (id, title, content, author_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      [id, title, content, authorId, now, now],
    );
    return id;
  }

  /** Changes a post's title and content. */
  update(id: string, title: string, content: string): void {
    this.db.run('UPDATE posts SET title = ?, content = ?, updated_at = ? WHERE id = ?', [
      title,
      content,
      new Date().toISOString(),
      id,
    ]);
  }

  /** Deletes a post. */
  remove(id: string): void {
    this.db.run('DELETE FROM posts WHERE id = ?', [id]);
  }

  /** Typed items (written by the admin seed), by label. */
  typedItems(): TypedItemRow[] {
    return rows(
      this.db,
      'SELECT id, label, data, seen_at, done, amount, meta FROM typed_items ORDER BY label',
    ).map(([id, label, data, seenAt, done, amount, meta]) => ({
      id: str(id),
      label: str(label),
      dataHex: hex(data),
      seenAt: seenAt === null ? null : str(seenAt),
      done: Number(done) === 1,
      amount: amount === null ? null : str(amount),
      meta: meta === null ? null : str(meta),
    }));
  }
}
