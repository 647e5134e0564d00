import { loadSqlJs } from '../testing/test-device.js';
import { ExportScheduler } from './export-scheduler.js';
import { type OversyncPersister } from './persister.types.js';
import { SqlJsAdapter } from './sql-js.adapter.js';

/** A persister that keeps the last saved image and fails the next `failures` saves. */
class FlakyPersister implements OversyncPersister {
  image: Uint8Array | null = null;
  failures = 0;
  async load(): Promise<Uint8Array | null> {
    return this.image;
  }
  async save(image: Uint8Array): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('quota exceeded');
    }
    this.image = image;
  }
  async clear(): Promise<void> {
    this.image = null;
  }
}

/** `report` runs after the error was recorded (a reporter that itself fails, for example). */
async function setup(debounceMs = 5, report: (error: unknown) => void = () => undefined) {
  const SQL = await loadSqlJs();
  const db = new SQL.Database();
  db.run('CREATE TABLE t (id TEXT PRIMARY KEY)');
  const persister = new FlakyPersister();
  const errors: unknown[] = [];
  const scheduler = new ExportScheduler(new SqlJsAdapter(db), persister, debounceMs, (e) => {
    errors.push(e);
    report(e);
  });
  const rowsIn = async (image: Uint8Array | null): Promise<number> => {
    if (!image) return 0;
    const copy = new SQL.Database(image);
    const n = Number(copy.exec('SELECT COUNT(*) FROM t')[0].values[0][0]);
    copy.close();
    return n;
  };
  return { db, persister, errors, scheduler, rowsIn };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ExportScheduler', () => {
  it('flush() after a failed background save saves again instead of resolving over the lost write', async () => {
    const { db, persister, errors, scheduler, rowsIn } = await setup();
    persister.failures = 1;
    db.run("INSERT INTO t VALUES ('a')");
    scheduler.schedule();
    await tick(30);
    expect(errors).toHaveLength(1);
    expect(await rowsIn(persister.image)).toBe(0);
    await scheduler.flush();
    expect(await rowsIn(persister.image)).toBe(1);
  });

  it('flush() rejects when the save keeps failing', async () => {
    const { db, persister, scheduler } = await setup();
    persister.failures = 2;
    db.run("INSERT INTO t VALUES ('a')");
    scheduler.schedule();
    await tick(30);
    await expect(scheduler.flush()).rejects.toThrow('quota exceeded');
    // The write is still pending: a later flush that succeeds saves it.
    await scheduler.flush();
    expect(persister.image).not.toBeNull();
  });

  it('retries by itself when an open app transaction made sql.js refuse the export', async () => {
    const { db, persister, errors, scheduler, rowsIn } = await setup();
    db.run('BEGIN');
    db.run("INSERT INTO t VALUES ('a')");
    scheduler.schedule();
    await tick(30);
    expect(String(errors[0])).toMatch(/busy or locked/);
    db.run('COMMIT');
    await tick(40);
    // No flush, no new write: the refused export was rescheduled.
    expect(await rowsIn(persister.image)).toBe(1);
    scheduler.dispose();
  });

  it('keeps saving when the error reporter of a failed background save throws', async () => {
    const { db, persister, errors, scheduler, rowsIn } = await setup(5, () => {
      throw new Error('reporter failed');
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      persister.failures = 1;
      db.run("INSERT INTO t VALUES ('a')");
      scheduler.schedule();
      await tick(30);
      expect(errors).toHaveLength(1);
      await scheduler.flush();
      expect(await rowsIn(persister.image)).toBe(1);
      await tick(10);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
