import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Behaviour } from '../../demo-service/server';
import { stopChild } from '../../demo-service/stop';

const ROOT = resolve(import.meta.dirname, '..', '..');

export interface DemoService {
  /** Base URL of each version, in the order asked for. */
  urls: Record<string, string>;
  control(version: string, behaviour: Partial<Behaviour>): Promise<Behaviour>;
  stop(): Promise<void>;
}

export interface DemoServiceStart {
  /** The `service` label on every series; without it the series carry only `version` (and `code`). */
  service?: string;
  versions: {
    version: string;
    upstream?: string;
    dropFields?: string[];
    /** A flagd flag file and key the version reads per request; see `FlagOption` in demo-service/server.ts. */
    flag?: { file: string; key: string; newPathVariant?: string; type?: 'boolean' | 'string' | 'number' };
    newPathErrorRate?: number;
  }[];
}

/**
 * Runs demo-service/main.ts under tsx in its own process, on free loopback ports: a list of versions,
 * or a service name with versions that may each have an upstream and fields dropped from `GET /order`.
 */
export async function startDemoService(versions: string[] | DemoServiceStart, timeoutMs = 20_000): Promise<DemoService> {
  const start: DemoServiceStart = Array.isArray(versions) ? { versions: versions.map((version) => ({ version })) } : versions;
  const args = ['--import', 'tsx', join(ROOT, 'demo-service', 'main.ts'), '--port', '0', ...start.versions.flatMap((v) => ['--version', v.version])];
  if (start.service !== undefined) args.push('--service', start.service);
  if (start.versions.some((v) => v.upstream !== undefined)) args.push(...start.versions.flatMap((v) => ['--upstream', v.upstream ?? '']));
  if (start.versions.some((v) => v.dropFields !== undefined)) {
    args.push(...start.versions.flatMap((v) => ['--drop-fields', (v.dropFields ?? []).join(',')]));
  }
  if (start.versions.some((v) => v.flag !== undefined)) {
    const flagged = start.versions.map((v) => v.flag);
    args.push(...flagged.flatMap((f) => ['--flag-file', f?.file ?? '', '--flag-key', f?.key ?? '']));
    args.push(...flagged.flatMap((f) => ['--flag-variant', f?.newPathVariant ?? 'on', '--flag-type', f?.type ?? 'boolean']));
  }
  if (start.versions.some((v) => v.newPathErrorRate !== undefined)) {
    args.push(...start.versions.flatMap((v) => ['--new-path-error-rate', String(v.newPathErrorRate ?? 0)]));
  }
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const line = await firstLine(child, timeoutMs).catch(async (err) => {
    await stopChild(child);
    throw new Error(`demo service did not start: ${err.message}${stderr ? `\n${stderr}` : ''}`);
  });
  const listed = (JSON.parse(line) as { versions: { version: string; url: string }[] }).versions;
  const urls = Object.fromEntries(listed.map((v) => [v.version, v.url]));
  const anyUrl = listed[0]!.url;
  return {
    urls,
    async control(version, behaviour) {
      const res = await fetch(`${anyUrl}/control`, { method: 'POST', body: JSON.stringify({ version, ...behaviour }) });
      const body = await res.json();
      if (!res.ok) throw new Error(`demo service refused control of ${version}: ${(body as { error: string }).error}`);
      return body as Behaviour;
    },
    stop: () => stopChild(child),
  };
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms`)), timeoutMs);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with code ${code}`));
    });
  });
}

export { stopChild };
