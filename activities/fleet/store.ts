import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const HEADER = /^\{"revision":"([0-9a-f-]{36})"/;

/**
 * One JSON document in one file. Every update reads, changes and writes synchronously, and writes
 * through a temp file and a rename, so a crash never leaves half a file and concurrent activities of
 * one process never interleave a read-modify-write. Each write stamps a fresh revision at the head of
 * the file; a read checks only that head and reuses its cached document while it matches, so other
 * instances and processes writing the same file are always seen.
 */
export class JsonFileStore<T> {
  private cache?: { revision: string; state: T };

  readonly file: string;
  private readonly empty: () => T;

  constructor(
    file: string,
    empty: () => T,
  ) {
    this.file = file;
    this.empty = empty;
  }

  /** The current document; callers must not mutate it. */
  read(): T {
    const head = this.readHead();
    if (head === undefined) {
      this.cache = undefined;
      return this.empty();
    }
    if (this.cache?.revision === head) return this.cache.state;
    const text = readFileSync(this.file, 'utf8');
    const { revision, state } = JSON.parse(text) as { revision: string; state: T };
    this.cache = { revision, state };
    return state;
  }

  /** Changes the cached document in place (no copy: the file can be large); a throw drops the cache. */
  update<R>(change: (state: T) => R): R {
    const state = this.read();
    try {
      const result = change(state);
      this.write(state);
      return result;
    } catch (err) {
      this.cache = undefined;
      throw err;
    }
  }

  private write(state: T): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const revision = randomUUID();
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ revision, state }));
    renameSync(temp, this.file);
    this.cache = { revision, state };
  }

  /** The revision at the head of the file; undefined when there is no file. */
  private readHead(): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const buf = Buffer.alloc(64);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return HEADER.exec(buf.toString('utf8', 0, n))?.[1] ?? '';
    } finally {
      closeSync(fd);
    }
  }
}
