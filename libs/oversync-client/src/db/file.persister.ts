import { type OversyncPersister } from './persister.types.js';

/** The slice of `node:fs/promises` this persister uses (typed locally: the build has no Node types). */
interface FsPromises {
  readFile(path: string): Promise<Uint8Array>;
  open(
    path: string,
    flags: string,
  ): Promise<{ writeFile(data: Uint8Array): Promise<void>; sync(): Promise<void>; close(): Promise<void> }>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

/**
 * Stores the database image in a file (Node.js only). Writes go to a temporary file that is
 * fsynced and renamed over the target, so a crash leaves either the old or the new image.
 *
 * `node:fs` is loaded lazily through a dynamic import, so importing `@oversync/client` in a browser
 * bundle does not pull it in.
 *
 * @example
 * ```ts
 * const persister = new FilePersister('./data/app.sqlite');
 * const db = new SQL.Database((await persister.load()) ?? undefined);
 * ```
 */
export class FilePersister implements OversyncPersister {
  readonly lockName: string;
  #fs: Promise<FsPromises> | undefined;

  /** @param path - the database file path. */
  constructor(readonly path: string) {
    this.lockName = `file:${path}`;
  }

  #load(): Promise<FsPromises> {
    // The specifier is kept in a variable so browser bundlers leave it alone.
    const specifier = 'node:fs/promises';
    this.#fs ??= import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<FsPromises>;
    return this.#fs;
  }

  async load(): Promise<Uint8Array | null> {
    const fs = await this.#load();
    try {
      return new Uint8Array(await fs.readFile(this.path));
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return null;
      throw error;
    }
  }

  async save(image: Uint8Array): Promise<void> {
    const fs = await this.#load();
    const temp = `${this.path}.${Date.now().toString(36)}${Math.random().toString(36).slice(2)}.tmp`;
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(image);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, this.path);
  }

  async clear(): Promise<void> {
    const fs = await this.#load();
    await fs.rm(this.path, { force: true });
  }
}
