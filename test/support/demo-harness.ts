/**
 * Boots the real demo app (`createDemoApp` from apps/demo-server) on a fresh test database with
 * the web page built from source, plus one headless Chromium, for the browser end-to-end tests.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createDemoApp, type DemoApp } from '../../apps/demo-server/src/demo-app.js';
import { launchChromium, screenshot } from './chromium.js';
import { DemoDevice } from './demo-device.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

/** A post as the admin API returns it. */
export interface AdminPost {
  id: string;
  title: string;
  content: string;
  author_id: string | null;
  updated_at: string;
}

/** Opens a signed-in device. */
export type OpenDevice = (name: string, userId: string) => Promise<DemoDevice>;

/** The running demo, a browser, and the admin API. */
export interface DemoHarness {
  readonly url: string;
  readonly demo: DemoApp;
  readonly browser: Browser;
  /**
   * Runs one test scenario. `open(name, userId)` opens a device (its own browser context, so its
   * own IndexedDB and localStorage) signed in as `userId`. On failure every device's page is saved
   * to `test-output/screenshots/<scenario>-<device>.png`; devices are closed in any case.
   */
  scenario(name: string, body: (open: OpenDevice) => Promise<void>): Promise<void>;
  /** Calls the admin API with the admin token; returns the parsed JSON body (or null for 204). */
  admin(method: string, path: string, body?: unknown): Promise<unknown>;
  /** Stops everything and drops the database. */
  close(): Promise<void>;
}

/** Builds `apps/demo-web` from the libraries' TypeScript sources into a temporary directory. */
export function buildDemoWeb(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'oversync-demo-web-'));
  // A child process: esbuild's API refuses to run inside Jest's module sandbox (Uint8Array realm).
  execFileSync(process.execPath, ['apps/demo-web/build.mjs', '--from-source', '--outdir', outdir], {
    stdio: 'pipe',
  });
  return outdir;
}

/** A fresh user id for one test (each test gets its own scope). */
export function uniqueUser(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function startDemoHarness(): Promise<DemoHarness> {
  const webRoot = buildDemoWeb();
  const adminToken = `admin-${randomBytes(8).toString('hex')}`;
  let db: TestDatabase | undefined;
  let demo: DemoApp | undefined;
  try {
    db = await createTestDatabase('oversync_demo');
    demo = await createDemoApp({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      adminToken,
      jwtSecret: randomBytes(16).toString('hex'),
      devLogin: true,
      webRoot,
      logger: ['error'],
    });
    const browser = await launchChromium();
    const app = demo;
    const database = db;
    return {
      url: app.url,
      demo: app,
      browser,
      scenario: async (name, body) => {
        const devices: DemoDevice[] = [];
        const open: OpenDevice = async (deviceName, userId) => {
          const device = await DemoDevice.open(browser, app.url, deviceName);
          devices.push(device);
          await device.signIn(userId);
          return device;
        };
        try {
          await body(open);
        } catch (error) {
          for (const device of devices) {
            await screenshot(device.page, `${name}-${device.name}`).catch(() => undefined);
          }
          throw error;
        } finally {
          await Promise.allSettled(devices.map((d) => d.close()));
        }
      },
      admin: async (method, path, body) => {
        const response = await fetch(`${app.url}/admin${path}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!response.ok)
          throw new Error(`admin ${method} ${path}: HTTP ${response.status} ${await response.text()}`);
        return response.status === 204 ? null : ((await response.json()) as unknown);
      },
      close: async () => {
        await browser.close();
        await app.close();
        await database.drop();
        rmSync(webRoot, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await demo?.close();
    await db?.drop();
    rmSync(webRoot, { recursive: true, force: true });
    throw error;
  }
}
