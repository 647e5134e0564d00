import { type OversyncPersister } from './persister.types.js';

/** The `stat` fields that tell one saved file from the next (`bigint: true`: nanosecond mtime). */
interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** The slice of `node:fs/promises` this persister uses (typed locally: the build has no Node types). */
interface FsPromises {
  stat(path: string): Promise<{ mode: number; isFile(): boolean }>;
  stat(path: string, options: { bigint: true }): Promise<FileIdentity>;
  open(
    path: string,
    flags: string,
    mode?: number,
  ): Promise<{
    readFile(): Promise<Uint8Array>;
    stat(options: { bigint: true }): Promise<FileIdentity>;
    writeFile(data: Uint8Array): Promise<void>;
    chmod(mode: number): Promise<void>;
    sync(): Promise<void>;
    close(): Promise<void>;
  }>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

/** The slice of `process` used to resolve paths synchronously (Node 20.16+). */
interface NodeProcessLike {
  getBuiltinModule?(id: 'node:path'): { resolve(...paths: string[]): string } | undefined;
}

/**
 * Stores the database image in a file (Node.js only). Writes go to a temporary file that is
 * fsynced and renamed over the target, so a crash leaves either the old or the new image.
 *
 * The path is resolved to an absolute one once, at construction (`node:path` `resolve`): it names
 * the file in `lockName`, so two spellings of one file (`db.sqlite`, `./db.sqlite`, an absolute
 * path) share one owner, and a later `process.chdir()` does not move the file. Symbolic links are
 * not followed. A save keeps the permission bits of the file it replaces, and a failed save removes
 * its temporary file.
 *
 * The image's revision (see {@link OversyncPersister.storedRevision}) is the file's identity:
 * device, inode, size and nanosecond mtime. Every save renames a new file into place, so it changes
 * with each save, by this build, an earlier one or any other writer, and needs no extra file.
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
  /** `file:` and the absolute path. */
  readonly lockName: string;
  /** The database file's absolute path. */
  readonly path: string;
  #fs: Promise<FsPromises> | undefined;
  #known: string | null | undefined;

  /** @param path - the database file path, absolute or relative to the current directory. */
  constructor(path: string) {
    this.path = absolutePath(path);
    this.lockName = `file:${this.path}`;
  }

  #load(): Promise<FsPromises> {
    // The specifier is kept in a variable so browser bundlers leave it alone.
    const specifier = 'node:fs/promises';
    this.#fs ??= import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<FsPromises>;
    return this.#fs;
  }

  async load(): Promise<Uint8Array | null> {
    const fs = await this.#load();
    const handle = await fs.open(this.path, 'r').catch((error: unknown) => {
      if (isMissing(error)) return null;
      throw error;
    });
    if (!handle) {
      this.#known = null;
      return null;
    }
    try {
      // Stat and read through one handle: a save renaming a new file into place meanwhile cannot
      // pair this image with the next file's revision.
      const revision = fileRevision(await handle.stat({ bigint: true }));
      const image = new Uint8Array(await handle.readFile());
      this.#known = revision;
      return image;
    } finally {
      await handle.close();
    }
  }

  async save(image: Uint8Array): Promise<void> {
    const fs = await this.#load();
    const mode = await this.#targetMode(fs);
    const temp = `${this.path}.${Date.now().toString(36)}${Math.random().toString(36).slice(2)}.tmp`;
    try {
      const handle = await fs.open(temp, 'w', mode);
      let revision: string;
      try {
        // open()'s mode is filtered by the umask: set it exactly, before the bytes are written.
        if (mode !== undefined) await handle.chmod(mode);
        await handle.writeFile(image);
        await handle.sync();
        // rename() keeps inode, size and mtime, so this is the revision the target will report.
        revision = fileRevision(await handle.stat({ bigint: true }));
      } finally {
        await handle.close();
      }
      await fs.rename(temp, this.path);
      this.#known = revision;
    } catch (error) {
      // A full disk or a failed rename would otherwise leave one image-sized file per attempt.
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Permission bits of the current file, so a save never widens (or narrows) them. */
  async #targetMode(fs: FsPromises): Promise<number | undefined> {
    try {
      const stat = await fs.stat(this.path);
      return stat.isFile() ? stat.mode & 0o777 : undefined;
    } catch {
      // No file yet (or not readable): the new one gets the default mode.
      return undefined;
    }
  }

  async clear(): Promise<void> {
    const fs = await this.#load();
    await fs.rm(this.path, { force: true });
    this.#known = null;
  }

  knownRevision(): string | null | undefined {
    return this.#known;
  }

  async storedRevision(): Promise<string | null> {
    const fs = await this.#load();
    try {
      return fileRevision(await fs.stat(this.path, { bigint: true }));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }
}

function isMissing(error: unknown): boolean {
  return (error as { code?: string }).code === 'ENOENT';
}

function fileRevision(stat: FileIdentity): string {
  return `file:${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}`;
}

/**
 * `path` made absolute with `node:path`'s `resolve`, loaded synchronously because `lockName` is
 * read when the client is constructed. Where the runtime cannot load it synchronously (Node before
 * 20.16), the path is used as given.
 */
function absolutePath(path: string): string {
  const nodeProcess = (globalThis as { process?: NodeProcessLike }).process;
  const nodePath = nodeProcess?.getBuiltinModule?.('node:path');
  return nodePath ? nodePath.resolve(path) : path;
}
