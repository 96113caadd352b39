import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, ROOT } from './processes';
import { startPostgres, type RunningPostgres } from './postgres';
import { unleashToken } from './secrets';

/**
 * Unleash OSS serves exactly these two environments in its one project, `default`: it hides any
 * other row of its environments table and has no endpoint to create one (that is an Enterprise
 * feature). Tests therefore map regions onto them, one region per environment; a deployment with
 * more regions than that runs Unleash Enterprise (one environment per region) or one Unleash per
 * region, which the provider config allows since `url`, `project` and `environment` are per region.
 */
export const OSS_ENVIRONMENTS = ['development', 'production'] as const;
export const OSS_PROJECT = 'default';

export interface RunningUnleash {
  url: string;
  /** An admin API token, created at start-up (`INIT_ADMIN_API_TOKENS`). */
  adminToken: string;
  /** A backend (server SDK) token per environment, for reading what clients are served. */
  backendTokens: Record<string, string>;
  project: string;
  /** Each region asked for, by name, to the Unleash environment it uses. */
  environments: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Unleash 7 on a fresh database of its own PostgreSQL cluster, on a free loopback port, answering
 * `/health`. `regions` are mapped in order onto the OSS environments; more than two throw.
 */
export async function startUnleash(options: { regions: string[] }): Promise<RunningUnleash> {
  if (options.regions.length > OSS_ENVIRONMENTS.length) {
    throw new Error(`Unleash OSS has ${OSS_ENVIRONMENTS.length} environments (${OSS_ENVIRONMENTS.join(', ')}); ${options.regions.length} regions asked for`);
  }
  const environments = Object.fromEntries(options.regions.map((region, i) => [region, OSS_ENVIRONMENTS[i]!]));
  const postgres = await startPostgres({ databases: ['unleash'] });
  const adminToken = unleashToken('*');
  const backendTokens = Object.fromEntries(OSS_ENVIRONMENTS.map((env) => [env, unleashToken(env)]));
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    child = await spawnUnleash({ databaseUrl: postgres.urls.unleash!, port, adminTokens: [adminToken], backendTokens: Object.values(backendTokens) });
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, child);
    const running = child;
    // A test process that ends without stop() must not leave Unleash behind.
    const kill = () => running.kill('SIGKILL');
    process.once('exit', kill);
    return {
      url,
      adminToken,
      backendTokens,
      project: OSS_PROJECT,
      environments,
      stop: () => {
        process.removeListener('exit', kill);
        return stopAll(running, postgres);
      },
    };
  } catch (err) {
    await stopAll(child, postgres);
    throw err;
  }
}

function spawnUnleash(config: { databaseUrl: string; port: number; adminTokens: string[]; backendTokens: string[] }): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'test', 'support', 'unleash-child.ts'), JSON.stringify(config)], {
      cwd: ROOT,
      env: { ...process.env, TZ: 'UTC', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (d: Buffer) => {
      out = (out + d).slice(-8_000);
      if (out.includes('unleash listening')) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`unleash exited ${code} before it listened:\n${out}`)));
  });
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`unleash exited ${child.exitCode}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`unleash at ${url} did not answer /health within 60 s`);
}

async function stopAll(child: ChildProcess | undefined, postgres: RunningPostgres): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  await postgres.stop();
}
