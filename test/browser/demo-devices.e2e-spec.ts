/**
 * The demo page on two devices (two Chromium contexts signed in as the same user): posts travel
 * between them through the real demo server, offline edits wait and then sync, and a reload keeps
 * unsynced edits (IndexedDB).
 */
import { startDemoHarness, uniqueUser, type DemoHarness } from '../support/demo-harness.js';

describe('demo page: two devices of one user', () => {
  let h: DemoHarness;

  beforeAll(async () => {
    h = await startDemoHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('shows a post added on one device on the other', () =>
    h.scenario('two-devices', async (open) => {
      const user = uniqueUser('pat');
      const a = await open('a', user);
      const b = await open('b', user);
      expect(
        await a.page.evaluate(() => (window as unknown as { __progressSeen: boolean }).__progressSeen),
      ).toBe(true);

      await a.addPost('Hello from A', 'first words');
      await b.waitForPost('Hello from A');
      await expect(b.post('Hello from A').locator('.post-content').textContent()).resolves.toBe(
        'first words',
      );

      await b.addPost('Reply from B');
      await a.waitForPost('Reply from B');
      await a.waitSynced();
      await b.waitSynced();
      expect(await a.titles()).toEqual(['Reply from B', 'Hello from A']);
      expect(await b.titles()).toEqual(['Reply from B', 'Hello from A']);

      await a.post('Hello from A').getByRole('button', { name: 'Delete “Hello from A”' }).click();
      await b.waitForNoPost('Hello from A');
      const server = (await h.admin('GET', `/users/${user}/posts`)) as Array<{ title: string }>;
      expect(server.map((p) => p.title)).toEqual(['Reply from B']);
      expect([...a.errors, ...b.errors]).toEqual([]);
    }));

  it('keeps an offline edit pending and syncs it after going online', () =>
    h.scenario('offline-edit', async (open) => {
      const user = uniqueUser('olive');
      const a = await open('a', user);
      const b = await open('b', user);
      await a.addPost('Draft title');
      await b.waitForPost('Draft title');

      await a.setOnline(false);
      await a.editTitle('Draft title', 'Edited offline');
      await a.waitPending(1);
      await expect(a.page.locator('#sync-status').textContent()).resolves.toContain('Offline');
      // B does not see it while A is offline: the server still has the old title.
      const server = (await h.admin('GET', `/users/${user}/posts`)) as Array<{ title: string }>;
      expect(server.map((p) => p.title)).toEqual(['Draft title']);
      expect(await b.titles()).toEqual(['Draft title']);

      await a.setOnline(true);
      await a.waitSynced();
      await b.waitForPost('Edited offline');
      await expect(a.page.locator('#last-sync').textContent()).resolves.toMatch(/^\d{2}:\d{2}:\d{2}$/);
    }));

  it('keeps unsynced edits across a reload and syncs them afterwards', () =>
    h.scenario('reload', async (open) => {
      const user = uniqueUser('remy');
      const a = await open('a', user);
      const b = await open('b', user);
      await a.addPost('Before reload');
      await b.waitForPost('Before reload');

      await a.setOnline(false);
      await a.addPost('Written offline');
      await a.editTitle('Before reload', 'Renamed offline');
      await a.waitPending(2);

      await a.reload();
      // Still offline after the reload (the switch is remembered); the edits came back from IndexedDB.
      await a.page.locator('#sync-status[data-state="offline"]').waitFor();
      expect(await a.titles()).toEqual(['Written offline', 'Renamed offline']);
      await a.waitPending(2);
      expect(await b.titles()).toEqual(['Before reload']);

      await a.setOnline(true);
      await a.waitSynced();
      await b.waitForPost('Written offline');
      await b.waitForPost('Renamed offline');
      expect(await b.titles()).toEqual(['Written offline', 'Renamed offline']);
    }));
});
