import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '../../lib/tools';

/**
 * Debian's Chromium, headless, driven over the DevTools protocol with Node's own WebSocket: pages
 * are loaded as a person's browser loads them (scripts, fetches to other origins, CORS), then their
 * text is read and a screenshot taken.
 */

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

export interface PageView {
  /** document.body.innerText once `ready` held. */
  text: string;
  png: Buffer;
}

export interface Chromium {
  /** Opens `url` in a fresh tab and waits until `ready(text)` holds (or throws with the last text after `timeoutMs`). */
  view(url: string, ready: (text: string) => boolean, timeoutMs?: number): Promise<PageView>;
  close(): Promise<void>;
}

function devtoolsUrl(child: ChildProcess, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`chromium printed no DevTools address within ${timeoutMs / 1000}s:\n${err}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}) before it listened:\n${err}`));
    });
  });
}

export async function launchChromium(opts: { width?: number; height?: number } = {}): Promise<Chromium> {
  const binary = requireTool('chromium');
  const profile = mkdtempSync(join(tmpdir(), 'meridian-chromium-'));
  const [width, height] = [opts.width ?? 1400, opts.height ?? 1000];
  const child = spawn(
    binary,
    [
      '--headless',
      // Root (CI, the dev machines) cannot use Chromium's user-namespace sandbox.
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let socket: WebSocket;
  try {
    socket = new WebSocket(await devtoolsUrl(child));
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error('could not connect to chromium\'s DevTools socket')), { once: true });
    });
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }

  let next = 0;
  const pending = new Map<number, Pending>();
  socket.addEventListener('message', (event) => {
    const msg = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    if (msg.id === undefined) return;
    const waiting = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) waiting?.reject(new Error(msg.error.message));
    else waiting?.resolve(msg.result ?? {});
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });

  return {
    async view(url, ready, timeoutMs = 60_000) {
      const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
      const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
      try {
        await send('Page.enable', {}, sessionId);
        await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
        await send('Page.navigate', { url }, sessionId);
        const deadline = Date.now() + timeoutMs;
        let text = '';
        for (;;) {
          const { result } = (await send('Runtime.evaluate', { expression: 'document.body ? document.body.innerText : ""', returnByValue: true }, sessionId)) as { result: { value?: string } };
          text = result.value ?? '';
          if (ready(text)) break;
          if (Date.now() > deadline) throw new Error(`${url} was not ready within ${timeoutMs / 1000}s; its text:\n${text.slice(0, 4000)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const { data } = (await send('Page.captureScreenshot', { format: 'png' }, sessionId)) as { data: string };
        return { text, png: Buffer.from(data, 'base64') };
      } finally {
        await send('Target.closeTarget', { targetId }).catch(() => undefined);
      }
    },
    async close() {
      socket.close();
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
