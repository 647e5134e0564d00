/** Kysely view of the demo's business tables (admin writes and reads). */
export interface DemoDb {
  'business.users': {
    _sync_scope_id?: string;
    id: string;
    name: string;
    email?: string;
    created_at?: string;
    updated_at?: string;
  };
  'business.posts': {
    _sync_scope_id?: string;
    id: string;
    title: string;
    content?: string;
    author_id: string | null;
    created_at?: string;
    updated_at?: string;
  };
  'business.typed_items': {
    _sync_scope_id?: string;
    id: string;
    label: string;
    data?: Buffer | null;
    seen_at?: string | null;
    done?: boolean;
    amount?: string | null;
    meta?: string | null;
  };
}

/** Injection token of the app's `Kysely<DemoDb>` (plain reads; writes go through `@ScopeWrite`). */
export const DEMO_DB = 'oversync-demo:db';
