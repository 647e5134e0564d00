import { loadSqlJs } from '../testing/test-device.js';
import { ExportScheduler } from './export-scheduler.js';
import { type OversyncPersister } from './persister.types.js';
import { SqlJsAdapter } from './sql-js.adapter.js';

/** A persister whose saves wait until the test settles them, one by one. */
class GatedPersister implements OversyncPersister {
  image: Uint8Array | null = null;
  readonly waiting: Array<{ image: Uint8Array; settle: (error?: Error) => void }> = [];
  async load(): Promise<Uint8Array | null> {
    return this.image;
  }
  save(image: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({
        image,
        settle: (error) => {
          if (error) reject(error);
          else {
            this.image = image;
            resolve();
          }
        },
      });
    });
  }
  async clear(): Promise<void> {
    this.image = null;
  }
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ExportScheduler with a save in flight', () => {
  // The demo's write() (and close()) awaits flush() right after a write: when the debounced save
  // already started, flush() must not report durable what that save failed to store.
  it('flush() during a background save that then fails does not resolve over the lost write', async () => {
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    db.run('CREATE TABLE t (id TEXT PRIMARY KEY)');
    const persister = new GatedPersister();
    const errors: unknown[] = [];
    const scheduler = new ExportScheduler(new SqlJsAdapter(db), persister, 1, (e) => errors.push(e));
    db.run("INSERT INTO t VALUES ('a')");
    scheduler.schedule();
    await tick(20);
    expect(persister.waiting).toHaveLength(1); // the debounced save is in flight

    let flushed: 'pending' | 'resolved' | 'rejected' = 'pending';
    const flush = scheduler.flush().then(
      () => (flushed = 'resolved'),
      () => (flushed = 'rejected'),
    );
    persister.waiting[0].settle(new Error('quota exceeded'));
    await tick(20);
    // Not "durable" over the failed save: flush() saves again and waits for that save.
    expect(flushed).toBe('pending');
    expect(persister.waiting).toHaveLength(2);
    persister.waiting[1].settle();
    await flush;
    expect(flushed).toBe('resolved');
    const copy = new SQL.Database(persister.image);
    expect(copy.exec('SELECT id FROM t')[0].values).toEqual([['a']]);
    copy.close();
    expect(errors).toHaveLength(1);
    scheduler.dispose();
  });
});
