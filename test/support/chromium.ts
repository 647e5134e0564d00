/**
 * Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
 * (never a downloaded browser). `.ci/run` installs the package when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Path of the system Chromium, or a clear error saying how to install it. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH?.trim();
  if (fromEnv) return fromEnv;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    throw new Error(
      'Chromium not found: install it with `apt-get update && apt-get install -y chromium` (Debian), or set CHROMIUM_PATH.',
    );
  }
}

/** A host name the browsers of {@link launchChromium} `({ insecureHost: true })` resolve to 127.0.0.1. */
export const INSECURE_HOST = 'demo.test';

/**
 * Launches headless Chromium with flags that work as root on a machine without network. With
 * `insecureHost`, {@link INSECURE_HOST} resolves to 127.0.0.1: a page opened there over plain http
 * is not a secure context (no Web Locks, no `crypto.randomUUID`), like the demo opened as
 * `http://<lan-ip>:3000` from another machine.
 */
export function launchChromium(options: { insecureHost?: boolean } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--disable-dev-shm-usage',
      ...(options.insecureHost ? [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] : []),
    ],
  });
}

/** `url`'s origin under {@link INSECURE_HOST} (same scheme and port). */
export function insecureOrigin(url: string): string {
  const u = new URL(url);
  u.hostname = INSECURE_HOST;
  return u.origin;
}

/** Saves a full-page screenshot under `test-output/screenshots/` (used on test failure). */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(process.cwd(), 'test-output', 'screenshots');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name.replace(/[^a-z0-9_-]+/gi, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
