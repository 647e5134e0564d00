/**
 * One "device" of the demo page: a Chromium browser context (its own IndexedDB and localStorage)
 * with the page open, driven through the page's labelled controls. Every wait is on a condition.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';

/** How long a condition may take (sync over localhost is far quicker). */
const TIMEOUT_MS = 15_000;

/** CSS attribute-value string (titles in the tests are plain text). */
const css = (value: string) => JSON.stringify(value);

export class DemoDevice {
  /** Page errors and console errors, for failure messages. */
  readonly errors: string[] = [];

  private constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly url: string,
  ) {
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (error) => this.errors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push(`console: ${message.text()}`);
    });
  }

  /** Opens a fresh browser context and page; records whether the snapshot progress bar showed. */
  static async open(browser: Browser, url: string, name: string): Promise<DemoDevice> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.addInitScript(() => {
      const w = window as unknown as { __progressSeen: boolean };
      w.__progressSeen = false;
      document.addEventListener('DOMContentLoaded', () => {
        const bar = document.getElementById('initial-progress');
        if (!bar) return;
        new MutationObserver(() => {
          if (!bar.hidden) w.__progressSeen = true;
        }).observe(bar, { attributes: true, attributeFilter: ['hidden'] });
      });
    });
    return new DemoDevice(name, context, await context.newPage(), url);
  }

  /** Signs in with the development login and waits until the first attach finished. */
  async signIn(userId: string): Promise<void> {
    await this.page.goto(this.url);
    await this.page.getByLabel('User id').fill(userId);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
    await this.waitReady();
  }

  /** {@link signInOutcome} of this device's page. */
  signInOutcome(): Promise<string> {
    return signInOutcome(this.page);
  }

  /** Waits until attach finished: the status shows synced (online) or offline. */
  async waitReady(): Promise<void> {
    await this.page
      .locator('#sync-status[data-state="synced"], #sync-status[data-state="offline"]')
      .waitFor();
  }

  /** Reloads the page (the login and offline switch are kept in localStorage). */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.waitReady();
  }

  /** Flips the Online/Offline switch to `online` and waits for the page to show it. */
  async setOnline(online: boolean): Promise<void> {
    const toggle = this.page.getByRole('switch');
    if ((await toggle.getAttribute('aria-checked')) !== String(online)) await toggle.click();
    await this.page.locator(`#online-toggle[aria-checked="${online}"]`).waitFor();
    if (!online) await this.page.locator('#sync-status[data-state="offline"]').waitFor();
  }

  /** The list item of the post titled `title`. */
  post(title: string): Locator {
    return this.page.locator(`li.post[data-title=${css(title)}]`);
  }

  /** Adds a post through the form and waits until it is listed. */
  async addPost(title: string, content = ''): Promise<void> {
    await this.page.locator('#new-post-title').fill(title);
    await this.page.locator('#new-post-content').fill(content);
    await this.page.getByRole('button', { name: 'Add post' }).click();
    await this.post(title).waitFor();
  }

  /** Edits the title of the post titled `from` and waits until it shows `to`. */
  async editTitle(from: string, to: string): Promise<void> {
    await this.post(from)
      .getByRole('button', { name: `Edit “${from}”` })
      .click();
    const form = this.page.locator(`li.editing[data-title=${css(from)}]`);
    await form.locator('.edit-title').fill(to);
    await form.getByRole('button', { name: 'Save' }).click();
    await this.post(to).locator('.post-title').waitFor();
  }

  /** Waits until the post titled `title` is listed (e.g. after a sync). */
  async waitForPost(title: string): Promise<void> {
    await this.post(title).waitFor();
  }

  /** Waits until no post is titled `title`. */
  async waitForNoPost(title: string): Promise<void> {
    await this.post(title).waitFor({ state: 'detached' });
  }

  /** The "Pending changes" count. */
  async pendingCount(): Promise<number> {
    return Number(await this.page.locator('#pending-count').textContent());
  }

  /** Waits until the pending count is `count`. */
  async waitPending(count: number): Promise<void> {
    await this.page
      .locator('#pending-count')
      .filter({ hasText: new RegExp(`^${count}$`) })
      .waitFor();
  }

  /** Waits until nothing is pending and the status is "Up to date". */
  async waitSynced(): Promise<void> {
    await this.waitPending(0);
    await this.page.locator('#sync-status[data-state="synced"]').waitFor();
  }

  /** Titles of the listed posts, in page order. */
  async titles(): Promise<string[]> {
    return this.page.locator('li.post .post-title').allTextContents();
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

/**
 * Waits until a sign-in on `page` has settled, refused (the sign-in error shows) or synced, and
 * returns the sign-in error's text: '' when the sign-in succeeded.
 */
export async function signInOutcome(page: Page): Promise<string> {
  await page
    .locator('#sign-in-error:not([hidden]), #app-view:not([hidden]) #sync-status[data-state="synced"]')
    .first()
    .waitFor();
  return (await page.locator('#sign-in-error').textContent()) ?? '';
}
