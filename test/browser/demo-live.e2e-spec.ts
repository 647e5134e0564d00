/**
 * The demo page receiving server-side changes live: admin (`@ScopeWrite('admin-panel')`) edits
 * arrive through the watch stream without a reload, and conflicting offline edits of one post on
 * two devices are resolved and shown in the Conflicts panel. Also checks what the server serves.
 */
import { startDemoHarness, uniqueUser, type AdminPost, type DemoHarness } from '../support/demo-harness.js';

describe('demo page: live server changes and conflicts', () => {
  let h: DemoHarness;

  beforeAll(async () => {
    h = await startDemoHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves the page and sql.js wasm on the sync port, and guards the admin API', async () => {
    const html = await fetch(`${h.url}/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<script type="module" src="/app.js"></script>');
    const wasm = await fetch(`${h.url}/sql-wasm.wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(new Uint8Array(await wasm.arrayBuffer()).slice(0, 4)).toEqual(
      new Uint8Array([0, 0x61, 0x73, 0x6d]),
    );
    const noToken = await fetch(`${h.url}/admin/users/someone/posts`);
    expect(noToken.status).toBe(401);
    const health = await fetch(`${h.url}/syncx/health`);
    expect(health.status).toBe(200);
  });

  it('shows admin edits as they happen, without a reload', () =>
    h.scenario('admin-live', async (open) => {
      const user = uniqueUser('ada');
      const a = await open('a', user);
      await a.page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
      await a.addPost('Written on the device');
      await a.waitSynced();

      const { id } = (await h.admin('POST', `/users/${user}/posts`, { title: 'From the back office' })) as {
        id: string;
      };
      await a.waitForPost('From the back office');
      await h.admin('PATCH', `/users/${user}/posts/${id}`, { title: 'Edited by the back office' });
      await a.waitForPost('Edited by the back office');
      await h.admin('POST', `/users/${user}/rename`, { name: 'Ada Lovelace' });
      await a.page.locator('#user-name', { hasText: 'Ada Lovelace' }).waitFor();
      await h.admin('POST', `/users/${user}/seed`, { posts: 2 });
      await a.page.locator('li.typed-item', { hasText: 'Typed values for' }).waitFor();
      await expect(a.page.locator('li.typed-item dd').nth(1).textContent()).resolves.toBe('0xdeadbeef');
      await a.waitForPost('Seeded post 2');
      await h.admin('DELETE', `/users/${user}/posts/${id}`);
      await a.waitForNoPost('Edited by the back office');

      expect(
        await a.page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument),
      ).toBe(true);
      expect(await a.titles()).toEqual(['Seeded post 2', 'Seeded post 1', 'Written on the device']);
      expect(a.errors).toEqual([]);
    }));

  it('resolves conflicting offline edits and shows the resolution in the Conflicts panel', () =>
    h.scenario('conflict', async (open) => {
      const user = uniqueUser('cleo');
      const a = await open('a', user);
      const b = await open('b', user);
      await a.addPost('Shared post');
      await b.waitForPost('Shared post');
      await a.waitSynced();
      await b.waitSynced();

      await a.setOnline(false);
      await b.setOnline(false);
      await a.editTitle('Shared post', 'Title from A');
      await b.editTitle('Shared post', 'Title from B');

      await a.setOnline(true);
      await a.waitSynced();
      await b.setOnline(true);

      // B pushed on top of a version it never saw: the server reports a conflict and B's resolver
      // (policy "Merge both edits") keeps both titles.
      const merged = 'Title from A / Title from B';
      const entry = b.page.locator('#conflict-list li.conflict');
      await entry.waitFor();
      await expect(entry.getAttribute('data-resolution')).resolves.toBe('merged');
      await expect(entry.locator('.summary').textContent()).resolves.toContain(
        `both edits were kept: “${merged}”`,
      );
      await expect(entry.locator('.sides').textContent()).resolves.toBe(
        'This device: “Title from B” · Server: “Title from A”',
      );
      await expect(b.page.locator('#conflict-count').textContent()).resolves.toBe('1');
      await b.waitForPost(merged);
      await b.waitSynced();
      await a.waitForPost(merged);
      await expect(a.page.locator('#conflict-count').textContent()).resolves.toBe('0');
      const server = (await h.admin('GET', `/users/${user}/posts`)) as AdminPost[];
      expect(server.map((p) => p.title)).toEqual([merged]);
    }));
});
