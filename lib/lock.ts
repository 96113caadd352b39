import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

function tryAcquire(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  const holder = Number.parseInt(text, 10);
  // An empty file is a lock being written this instant, unless it has been empty for a while.
  const stale = Number.isFinite(holder) ? !alive(holder) : Date.now() - mtimeMs(path) > 10_000;
  if (stale) rmSync(path, { force: true });
  return false;
}

/**
 * Runs `fn` while holding an exclusive lock file (pid inside; a lock left by a dead process is
 * taken over). `onWait` is called once when another process holds it.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, onWait?: (holderPid: string) => void): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  let told = false;
  while (!tryAcquire(path)) {
    if (!told && onWait) {
      let holder = '?';
      try {
        holder = readFileSync(path, 'utf8');
      } catch {}
      onWait(holder);
      told = true;
    }
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}
