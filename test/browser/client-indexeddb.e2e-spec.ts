/**
 * Browser smoke test: the esbuild-bundled `@oversync/client` runs in headless Chromium with
 * sql.js's wasm build, syncs against the real Nest app and PostgreSQL, and survives a page reload
 * through `IndexedDbPersister`: rows written offline are still there after the reload and reach
 * PostgreSQL on the next sync.
 */
import type { Browser, Page } from 'playwright-core';
import { bundleClient, servePage, type PageServer } from '../support/client-browser.js';
import { uuid, userId } from '../support/client-schema.js';
import { lit, rawSql, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';
import { launchChromium, screenshot } from '../support/chromium.js';

interface SmokeApp {
  open(user: string): Promise<{ status: string; outcome?: string }>;
  write(id: string, name: string): void;
  names(): string[];
  pending(): { pendingRowCount: number };
  sync(): Promise<{ pushOutcome?: string; remoteOutcome?: string; error?: string }>;
  flush(): Promise<void>;
}

declare global {
  interface Window {
    app: SmokeApp;
  }
}

describe('@oversync/client bundled in headless Chromium', () => {
  let server: ClientServer;
  let pageServer: PageServer;
  let browser: Browser;

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

  const load = async (page: Page) => {
    await page.goto(pageServer.url);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  };

  it('keeps offline writes across a reload (IndexedDB) and syncs them to PostgreSQL', async () => {
    const user = userId('browser');
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    try {
      await load(page);
      expect(await page.evaluate((u) => window.app.open(u), user)).toEqual({
        status: 'connected',
        outcome: 'started_empty',
      });
      await context.setOffline(true);
      const ids = [uuid(), uuid(), uuid()];
      await page.evaluate((list) => list.forEach((id, i) => window.app.write(id, `Offline ${i}`)), ids);
      expect(await page.evaluate(() => window.app.sync())).toEqual({ error: 'retry_exhausted' });
      await page.evaluate(() => window.app.flush());
      await context.setOffline(false);

      await page.reload();
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
      expect(await page.evaluate((u) => window.app.open(u), user)).toEqual({
        status: 'connected',
        outcome: 'resumed_attached_state',
      });
      expect(await page.evaluate(() => window.app.names())).toEqual(['Offline 0', 'Offline 1', 'Offline 2']);
      expect(await page.evaluate(() => window.app.pending().pendingRowCount)).toBe(3);
      expect(await serverTable(server.pool, 'users', user)).toEqual([]);

      expect(await page.evaluate(() => window.app.sync())).toMatchObject({ pushOutcome: 'committed' });
      const stored = await serverTable(server.pool, 'users', user);
      expect(stored.map((r) => [r['id'], r['name'], r['email']]).sort()).toEqual(
        ids.map((id, i) => [id, `Offline ${i}`, `Offline ${i}@browser`]).sort(),
      );

      await server.write(
        user,
        rawSql(
          `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', 'From server', 's@x')`,
        ),
      );
      expect(await page.evaluate(() => window.app.sync())).toMatchObject({
        remoteOutcome: 'applied_incremental',
      });
      await page.reload();
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
      await page.evaluate((u) => window.app.open(u), user);
      expect(await page.evaluate(() => window.app.names())).toEqual([
        'From server',
        'Offline 0',
        'Offline 1',
        'Offline 2',
      ]);
      expect(await page.evaluate(() => window.app.pending().pendingRowCount)).toBe(0);
      expect(errors).toEqual([]);
    } catch (error) {
      await screenshot(page, 'client-indexeddb-failure').catch(() => undefined);
      throw error;
    } finally {
      await context.close();
    }
  });
});
