import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { stopChild } from './stop';
import { freePort } from '../lib/ports';
import { requireTool } from '../lib/tools';

export interface ScrapeTarget {
  /** host:port or a base URL; `/metrics` is scraped. */
  url: string;
  labels: Record<string, string>;
}

export interface RunningPrometheus {
  address: string;
  stop(): Promise<void>;
  /** Resolves once every target was scraped successfully at least once. */
  waitForTargets(timeoutMs?: number): Promise<void>;
}

/** Starts Prometheus on a free loopback port, scraping `targets` every second, with its data in a fresh temporary folder. */
export async function startPrometheus(
  targets: ScrapeTarget[],
  readyTimeoutMs = 30_000,
  /** A fixed port, to bring a stopped Prometheus back at the same address. */
  fixedPort?: number,
): Promise<RunningPrometheus> {
  const binary = requireTool('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'meridian-prometheus-'));
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: targets.map((t, i) => ({
      job_name: `target-${i}`,
      // The service's own labels (version) win over the target's.
      honor_labels: true,
      static_configs: [{ targets: [new URL(t.url.includes('://') ? t.url : `http://${t.url}`).host], labels: t.labels }],
    })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = fixedPort ?? (await freePort());
  const address = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (chunk) => (log = (log + chunk).slice(-4_000)));
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(readyTimeoutMs, child, async () => (await fetch(`${address}/-/ready`)).ok);
  } catch (err) {
    await stop();
    throw new Error(`Prometheus (${binary}) did not become ready at ${address}: ${(err as Error).message}\n${log}`);
  }
  return {
    address,
    stop,
    async waitForTargets(timeoutMs = 20_000) {
      await until(timeoutMs, child, async () => {
        const body = (await (await fetch(`${address}/api/v1/targets?state=active`)).json()) as {
          data: { activeTargets: { health: string }[] };
        };
        const active = body.data.activeTargets;
        return active.length === targets.length && active.every((t) => t.health === 'up');
      }).catch((err) => {
        throw new Error(`scrape targets not all up within ${timeoutMs} ms: ${err.message}`);
      });
    },
  };
}

async function until(timeoutMs: number, child: ChildProcess, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`it exited with code ${child.exitCode}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out (${last})`);
}

