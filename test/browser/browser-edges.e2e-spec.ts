/**
 * Browser edges: `IndexedDbPersister` next to other IndexedDB users, ownership handed over between
 * tabs, the client's use of browser APIs (`fetch`), and the demo page as a user drives it. Headless
 * Chromium (the system package, never a downloaded browser).
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { bundleClient, servePage, type PageServer } from '../support/client-browser.js';
import { CLIENT_SCHEMA_SQL, CLIENT_TABLES, userId } from '../support/client-schema.js';
import { startClientServer, type ClientServer } from '../support/client-server.js';
import { insecureOrigin, launchChromium } from '../support/chromium.js';
import { DemoDevice, signInOutcome } from '../support/demo-device.js';
import { startDemoHarness, uniqueUser, type DemoHarness } from '../support/demo-harness.js';

/** The esbuild bundle of `@oversync/client`, as the test page serves it. */
const BUNDLE = '/oversync-client.js';

/** Page-side globals the tests park objects in (the page is a plain test page). */
type PageGlobals = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('IndexedDbPersister, ownership and fetch in Chromium', () => {
  let server: ClientServer;
  let pageServer: PageServer;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    server = await startClientServer();
    pageServer = await servePage(await bundleClient(), server.baseUrl);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await pageServer?.close();
    await server?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext();
  });
  afterEach(async () => {
    await context?.close();
  });

  /** A tab of the test page (all tabs of one test share one browser context: one IndexedDB). */
  const newTab = async (): Promise<Page> => {
    const page = await context.newPage();
    await page.goto(pageServer.url);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    return page;
  };

  /**
   * The quick-start pattern in a tab: load the image, build the database, create the client (kept
   * as `window.client`, its database as `window.db`) and `open()` it. With `retry`, only calls
   * `open()` again on the tab's existing client. Returns `opened` or the error code.
   */
  const openClient = (page: Page, user: string, key: string, retry = false): Promise<string> =>
    page.evaluate(
      async ({ bundle, schema, tables, user, key, retry }) => {
        const w = window as unknown as PageGlobals;
        if (!retry) {
          const m = (await import(bundle)) as typeof import('@oversync/client');
          const SQL = await w.initSqlJs({ locateFile: (file: string) => '/' + file });
          const persistence = new m.IndexedDbPersister({ databaseName: 'edges', key });
          const image = await persistence.load();
          const db = new SQL.Database(image ?? undefined);
          if (!image) db.exec(schema);
          w.db = db;
          w.client = new m.OversyncClient({
            db,
            sqlJs: SQL,
            baseUrl: location.origin,
            getToken: () => user,
            schema: 'business',
            tables,
            persistence,
            retry: { maxAttempts: 1 },
          });
        }
        try {
          await w.client.open();
          return 'opened';
        } catch (error) {
          return (error as { code?: string }).code ?? String(error);
        }
      },
      { bundle: BUNDLE, schema: CLIENT_SCHEMA_SQL, tables: CLIENT_TABLES, user, key, retry },
    );

  /** `users.name` values of the image stored under `key` (read in `page`). */
  const storedNames = (page: Page, key: string): Promise<unknown[]> =>
    page.evaluate(
      async ({ bundle, key }) => {
        const w = window as unknown as PageGlobals;
        const m = (await import(bundle)) as typeof import('@oversync/client');
        const SQL = await w.initSqlJs({ locateFile: (file: string) => '/' + file });
        const image = await new m.IndexedDbPersister({ databaseName: 'edges', key }).load();
        const db = new SQL.Database(image ?? undefined);
        try {
          return db.exec('SELECT name FROM users ORDER BY name')[0]?.values.flat() ?? [];
        } finally {
          db.close();
        }
      },
      { bundle: BUNDLE, key },
    );

  // The persister opens the database at its current version and adds its store with an upgrade
  // when the store is missing (IndexedDB creates stores only in an upgrade).
  it('a persister with its own storeName in an existing IndexedDB database can load and save', async () => {
    const page = await newTab();
    const result = await page.evaluate(async (bundle) => {
      const { IndexedDbPersister } = (await import(bundle)) as typeof import('@oversync/client');
      const a = new IndexedDbPersister({ databaseName: 'app-db', storeName: 'images-a', key: 'k' });
      await a.save(new Uint8Array([1, 2, 3]));
      const b = new IndexedDbPersister({ databaseName: 'app-db', storeName: 'images-b', key: 'k' });
      try {
        const before = await b.load();
        await b.save(new Uint8Array([4, 5]));
        return { before, after: Array.from((await b.load()) ?? []) };
      } catch (error) {
        return { error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    }, BUNDLE);
    expect(result).toEqual({ before: null, after: [4, 5] });
  });

  // An app's "reset local data" (`indexedDB.deleteDatabase()`) or another tab's upgrade must not
  // wait for the page to go away: the persister closes its connection on `versionchange`.
  it('yields its IndexedDB connection to deleteDatabase (versionchange) and reopens for the next save', async () => {
    const page = await newTab();
    const result = await page.evaluate(async (bundle) => {
      const { IndexedDbPersister } = (await import(bundle)) as typeof import('@oversync/client');
      const p = new IndexedDbPersister({ databaseName: 'reset-db', key: 'k' });
      await p.save(new Uint8Array([1]));
      const deleted = await new Promise<string>((resolve) => {
        const request = indexedDB.deleteDatabase('reset-db');
        request.onsuccess = () => resolve('deleted');
        request.onerror = () => resolve(`error: ${String(request.error)}`);
        setTimeout(() => resolve('still blocked after 2 s'), 2000);
      });
      try {
        await p.save(new Uint8Array([2]));
        return { deleted, reloaded: Array.from((await p.load()) ?? []) };
      } catch (error) {
        return { deleted, error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    }, BUNDLE);
    expect(result).toEqual({ deleted: 'deleted', reloaded: [2] });
  });

  // When the browser closes the connection (site data cleared, storage evicted), the next save
  // opens a new one instead of failing on the dead one.
  it('saves again after the browser closed its IndexedDB connection (site data cleared)', async () => {
    const page = await newTab();
    await page.evaluate(async (bundle) => {
      const { IndexedDbPersister } = (await import(bundle)) as typeof import('@oversync/client');
      const p = new IndexedDbPersister({ databaseName: 'cleared-db', key: 'k' });
      (window as unknown as PageGlobals).p = p;
      await p.save(new Uint8Array([1]));
    }, BUNDLE);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', {
      origin: new URL(pageServer.url).origin,
      storageTypes: 'indexeddb',
    });
    const result = await page.evaluate(async () => {
      const p = (window as unknown as PageGlobals).p;
      try {
        await p.save(new Uint8Array([2]));
        return Array.from(((await p.load()) as Uint8Array | null) ?? []);
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });
    expect(result).toEqual([2]);
  });

  // The same loss, when the browser accepts the transaction before the connection's close event:
  // the transaction aborts with "The connection was closed." (an AbortError) and wrote nothing.
  // Chromium shows this only by timing, so the abort is injected: the save must reopen and land.
  it('saves again when the connection closes under a transaction it already accepted', async () => {
    const page = await newTab();
    const result = await page.evaluate(async (bundle) => {
      const { IndexedDbPersister } = (await import(bundle)) as typeof import('@oversync/client');
      const p = new IndexedDbPersister({ databaseName: 'closing-db', key: 'k' });
      await p.save(new Uint8Array([1]));
      const original = IDBObjectStore.prototype.put;
      let injected = 0;
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<typeof original>) {
        const request = original.apply(this, args);
        if (injected++ === 0) {
          const closed = new DOMException('The connection was closed.', 'AbortError');
          const tx = this.transaction;
          Object.defineProperty(tx, 'error', { get: () => closed });
          // After the body queued all its requests, before the transaction can commit.
          queueMicrotask(() => tx.abort());
        }
        return request;
      } as typeof original;
      try {
        await p.save(new Uint8Array([2]));
        return { injected, reloaded: Array.from((await p.load()) ?? []) };
      } catch (error) {
        return { injected, error: `${(error as Error).name}: ${(error as Error).message}` };
      } finally {
        IDBObjectStore.prototype.put = original;
      }
    }, BUNDLE);
    expect(result).toEqual({ injected: 4, reloaded: [2] });
  });

  // A `fetch` option given as the page's own `fetch` (`fetch: window.fetch`, `fetch: fetch`) must
  // be called unbound: Chromium refuses it as a method of another object ("Illegal invocation"),
  // which would make every request a network error. Node does not care.
  it('works with `fetch: window.fetch` passed as the fetch option', async () => {
    const page = await newTab();
    const result = await page.evaluate(
      async ({ bundle, schema, tables, user }) => {
        const { OversyncClient } = (await import(bundle)) as typeof import('@oversync/client');
        const w = window as unknown as PageGlobals;
        const SQL = await w.initSqlJs({ locateFile: (file: string) => '/' + file });
        const db = new SQL.Database();
        db.exec(schema);
        const client = new OversyncClient({
          db,
          baseUrl: location.origin,
          getToken: () => user,
          schema: 'business',
          tables,
          fetch: window.fetch,
          retry: { maxAttempts: 1 },
        });
        await client.open();
        try {
          return await client.attach(user);
        } catch (error) {
          return { error: `${(error as { code?: string }).code}: ${(error as Error).message}` };
        } finally {
          await client.close();
        }
      },
      { bundle: BUNDLE, schema: CLIENT_SCHEMA_SQL, tables: CLIENT_TABLES, user: userId('fetch') },
    );
    expect(result).toEqual({ status: 'connected', outcome: 'started_empty' });
  });

  // The image is loaded before `open()` takes the lock. Tab B loaded the image while tab A owned
  // it (open → database_locked), A then wrote, saved and closed: B's retried `open()` gets the lock
  // but must not persist its stale image over A's newer one (it fails with `stale_image`).
  it('a tab that takes the lock over after the owner closed does not overwrite the newer image', async () => {
    const user = userId('takeover');
    const a = await newTab();
    const b = await newTab();
    expect(await openClient(a, user, 'takeover')).toBe('opened');
    await a.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      w.db.run(
        "INSERT INTO users (id, name, email) VALUES ('11111111-1111-4111-8111-111111111111', 'first', 'f@x')",
      );
      await w.client.flush();
    });
    // B loads the image (with "first") and is refused: A owns it.
    expect(await openClient(b, user, 'takeover')).toBe('database_locked');
    await a.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      w.db.run(
        "INSERT INTO users (id, name, email) VALUES ('22222222-2222-4222-8222-222222222222', 'second', 's@x')",
      );
      await w.client.flush();
      await w.client.close();
    });
    expect(await storedNames(a, 'takeover')).toEqual(['first', 'second']);
    // B tries again (as an app waiting for the other tab would): refused, the durable image still
    // holds A's last write, and B opens once it loads the image again.
    expect(await openClient(b, user, 'takeover', true)).toBe('stale_image');
    expect(await storedNames(b, 'takeover')).toEqual(['first', 'second']);
    expect(await openClient(b, user, 'takeover')).toBe('opened');
    await b.evaluate(() => (window as unknown as PageGlobals).client.close());
    expect(await storedNames(b, 'takeover')).toEqual(['first', 'second']);
  });

  // Earlier builds stored the image alone, without a revision: such an image opens as before, and
  // a tab that loaded it is still refused once another tab saved over it.
  it('opens an image saved without a revision (earlier builds) and still refuses it once replaced', async () => {
    const user = userId('legacy');
    const a = await newTab();
    expect(await openClient(a, user, 'legacy')).toBe('opened');
    await a.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      w.db.run(
        "INSERT INTO users (id, name, email) VALUES ('33333333-3333-4333-8333-333333333333', 'old', 'o@x')",
      );
      await w.client.close();
      // What an earlier build leaves behind: the image under its key, no revision next to it.
      await new Promise<void>((resolve, reject) => {
        const request = indexedDB.open('edges');
        request.onerror = () => reject(new Error(String(request.error)));
        request.onsuccess = () => {
          const tx = request.result.transaction('sqlite-images', 'readwrite');
          tx.objectStore('sqlite-images').delete(['legacy', 'revision']);
          tx.oncomplete = () => {
            request.result.close();
            resolve();
          };
          tx.onerror = () => reject(new Error(String(tx.error)));
        };
      });
    });
    const b = await newTab();
    const c = await newTab();
    expect(await openClient(b, user, 'legacy')).toBe('opened');
    expect(await openClient(c, user, 'legacy')).toBe('database_locked');
    await b.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      w.db.run(
        "INSERT INTO users (id, name, email) VALUES ('44444444-4444-4444-8444-444444444444', 'new', 'n@x')",
      );
      await w.client.close();
    });
    expect(await openClient(c, user, 'legacy', true)).toBe('stale_image');
    expect(await storedNames(c, 'legacy')).toEqual(['new', 'old']);
  });

  // IndexedDB's put is atomic: a tab closed while a save is in flight leaves either the old or the
  // new image, never a mix.
  it('a tab closed during a save leaves the previous or the new image, whole', async () => {
    const size = 8 * 1024 * 1024;
    const writer = await newTab();
    await writer.evaluate(
      async ({ bundle, size }) => {
        const { IndexedDbPersister } = (await import(bundle)) as typeof import('@oversync/client');
        const p = new IndexedDbPersister({ databaseName: 'midsave', key: 'k' });
        await p.save(new Uint8Array(size).fill(1));
        void p.save(new Uint8Array(size).fill(2)).catch(() => undefined);
      },
      { bundle: BUNDLE, size },
    );
    await writer.close();
    const reader = await newTab();
    const seen = await reader.evaluate(async (bundle) => {
      const { IndexedDbPersister } = (await import(bundle)) as typeof import('@oversync/client');
      const image = await new IndexedDbPersister({ databaseName: 'midsave', key: 'k' }).load();
      if (!image) return null;
      return { length: image.length, values: [...new Set(image)] };
    }, BUNDLE);
    expect(seen?.length).toBe(size);
    expect([[1], [2]]).toContainEqual(seen?.values);
  });

  // A truncated image makes open() fail (SQLite reports it) instead of syncing a half database;
  // the lock is released again, so a repaired database can be opened.
  it('refuses a truncated image at open() and releases the lock', async () => {
    const user = userId('truncated');
    const page = await newTab();
    expect(await openClient(page, user, 'truncated')).toBe('opened');
    await page.evaluate(async (bundle) => {
      const w = window as unknown as PageGlobals;
      for (let i = 0; i < 200; i++) {
        w.db.run('INSERT INTO docs (doc_id, body) VALUES (?, ?)', [`d${i}`, 'x'.repeat(500)]);
      }
      await w.client.close();
      const m = (await import(bundle)) as typeof import('@oversync/client');
      const p = new m.IndexedDbPersister({ databaseName: 'edges', key: 'truncated' });
      const image = (await p.load())!;
      await p.save(image.subarray(0, Math.floor(image.length / 2)));
    }, BUNDLE);
    await page.reload();
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    // A named client error (it was SQLite's bare "database disk image is malformed").
    expect(await openClient(page, user, 'truncated')).toBe('database_unreadable');
    const reopened = await page.evaluate(
      async ({ bundle, schema, tables, user }) => {
        const w = window as unknown as PageGlobals;
        const m = (await import(bundle)) as typeof import('@oversync/client');
        const SQL = await w.initSqlJs({ locateFile: (file: string) => '/' + file });
        const db = new SQL.Database();
        db.exec(schema);
        const client = new m.OversyncClient({
          db,
          baseUrl: location.origin,
          getToken: () => user,
          schema: 'business',
          tables,
          persistence: new m.IndexedDbPersister({ databaseName: 'edges', key: 'truncated' }),
        });
        await client.open();
        await client.close();
        return 'opened';
      },
      { bundle: BUNDLE, schema: CLIENT_SCHEMA_SQL, tables: CLIENT_TABLES, user },
    );
    expect(reopened).toBe('opened');
  });
});

describe('the demo page', () => {
  let h: DemoHarness;

  beforeAll(async () => {
    h = await startDemoHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  // Signing out while DemoSession.open() still runs must not leave that session open once it
  // finishes: it would keep the user's lock (and sync in the background, invisible), so signing in
  // again as the same user would be refused as "already open in another tab".
  it('signing out while the session is still starting leaves nothing open: the same user can sign in again', () =>
    h.scenario('signout-while-starting', async () => {
      const device = await DemoDevice.open(h.browser, h.url, 'quick');
      try {
        const page = device.page;
        // Hold sql.js's wasm so the session is still starting when the user signs out.
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        await page.route('**/sql-wasm.wasm', async (route) => {
          await gate;
          await route.continue();
        });
        const user = uniqueUser('quinn');
        await page.goto(h.url);
        await page.getByLabel('User id').fill(user);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.locator('#account').waitFor();
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.locator('#sign-in-view').waitFor();
        const wasmServed = page.waitForResponse('**/sql-wasm.wasm');
        release();
        // The signed-out start goes on now; signing in again right away races with it.
        await wasmServed;

        await page.getByLabel('User id').fill(user);
        await page.getByRole('button', { name: 'Sign in' }).click();
        expect(await signInOutcome(page)).toBe('');
        await device.waitReady();
      } finally {
        await device.close();
      }
    }));

  // Browsers expose crypto.randomUUID() only in secure contexts. The demo server listens on every
  // interface, so the page is also opened from another machine or a phone (http://<lan-ip>:3000):
  // "Add post" must work there too (it uses the client's getRandomValues-based randomUuid).
  it('adds a post when served over plain http on a non-localhost name (not a secure context)', async () => {
    const browser = await launchChromium({ insecureHost: true });
    try {
      const origin = insecureOrigin(h.url);
      const device = await DemoDevice.open(browser, origin, 'lan');
      await device.signIn(uniqueUser('lana'));
      expect(await device.page.evaluate(() => window.isSecureContext)).toBe(false);
      await device.page.locator('#new-post-title').fill('From a LAN device');
      await device.page.getByRole('button', { name: 'Add post' }).click();
      await device.page
        .locator('#sync-error:not([hidden]), li.post[data-title="From a LAN device"]')
        .first()
        .waitFor();
      await expect(device.page.locator('#sync-error').textContent()).resolves.toBe('');
      expect(await device.titles()).toEqual(['From a LAN device']);
    } finally {
      await browser.close();
    }
  });

  // A second tab of the same browser profile is refused while the first holds the user's database
  // (Web Locks), and after the first tab closes it opens with the first tab's unsynced post (it
  // reloads the image at sign-in).
  it('a second tab of the same user is refused, then takes over with the unsynced post', () =>
    h.scenario('two-tabs', async () => {
      const a = await DemoDevice.open(h.browser, h.url, 'tab-a');
      try {
        const user = uniqueUser('tara');
        await a.signIn(user);
        await a.setOnline(false);
        await a.addPost('Only in tab A');
        await a.waitPending(1);

        const tabB = await a.context.newPage();
        await tabB.goto(h.url); // the stored login signs tab B in at once
        await tabB.locator('#sign-in-error:not([hidden])').waitFor();
        await expect(tabB.locator('#sign-in-error').textContent()).resolves.toContain(
          'already open in another tab',
        );
        await a.page.close();
        await tabB.getByLabel('User id').fill(user);
        await tabB.getByRole('button', { name: 'Sign in' }).click();
        await tabB.locator('#sync-status[data-state="offline"]').waitFor();
        await tabB.locator('li.post[data-title="Only in tab A"]').waitFor();
        await expect(tabB.locator('#pending-count').textContent()).resolves.toBe('1');
      } finally {
        await a.close();
      }
    }));
});
