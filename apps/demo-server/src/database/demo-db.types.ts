/** Kysely view of the demo's business tables (what the admin service writes). */
export interface DemoDb {
  'business.users': { _sync_scope_id?: string; id: string; name: string; email?: string; updated_at?: string };
  'business.posts': {
    _sync_scope_id?: string;
    id: string;
    title: string;
    content?: string;
    author_id: string | null;
    updated_at?: string;
  };
}
