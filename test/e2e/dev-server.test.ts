import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDevServer } from '../../worker/dev-server';
import { freePort } from '../support/processes';
import { tempDir } from '../support/temp-dir';

describe('startDevServer', () => {
  it('puts the dev server\'s own output in its log file, not in the lines it logs', async () => {
    const dir = tempDir('meridian-dev-server-');
    const logFile = join(dir, 'server.log');
    const lines: string[] = [];
    const server = await startDevServer({ port: await freePort(), uiPort: await freePort(), inMemory: true, logFile, log: (l) => lines.push(l) });
    expect(server.logFile).toBe(logFile);
    expect(server.reused).toBe(false);
    await server.stop();
    expect(readFileSync(logFile, 'utf8')).toMatch(/^Temporal CLI \d/m);
    expect(lines.filter((l) => /^Temporal (CLI|Metrics|Server|UI)/.test(l))).toEqual([]);
    expect(lines.some((l) => l.includes(logFile))).toBe(true);
  });

  it('keeps its state in the database file and writes its log beside it', async () => {
    const dir = tempDir('meridian-dev-server-db-');
    const server = await startDevServer({ port: await freePort(), uiPort: await freePort(), dbFile: join(dir, 'temporal.db') });
    await server.stop();
    expect(existsSync(join(dir, 'temporal.db'))).toBe(true);
    expect(server.logFile).toBe(join(dir, 'temporal.log'));
  });

  it('says where the log is, and how it ends, when the server does not start', async () => {
    const dir = tempDir('meridian-dev-server-fail-');
    const notAFile = join(dir, 'a-folder.db');
    mkdirSync(notAFile);
    const logFile = join(dir, 'server.log');
    const failed = startDevServer({ port: await freePort(), uiPort: await freePort(), dbFile: notAFile, logFile });
    await expect(failed).rejects.toThrow(logFile);
    await expect(failed).rejects.toThrow(readFileSync(logFile, 'utf8').trim().split('\n').at(-1)!);
  });

  it('refuses a taken port when it must not reuse it', async () => {
    const port = await freePort();
    const squatter = createServer().listen(port, '127.0.0.1');
    await new Promise((done) => squatter.once('listening', done));
    try {
      await expect(startDevServer({ port, reuse: false, inMemory: true })).rejects.toThrow(`--address 127.0.0.1:${port}`);
    } finally {
      squatter.close();
    }
  });
});
