import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findTemporalCli, temporalExecutable } from '../../lib/binaries';
import { DEFAULT_ADDRESS } from '../../client/connection';
import { DEFAULT_PORT, DEFAULT_UI_PORT } from '../../worker/dev-server';
import { DEFAULT_NAMESPACE, SEARCH_ATTRIBUTES, TASK_QUEUE } from '../../workflows/definitions';

const ROOT = join(import.meta.dirname, '..', '..');

interface Service {
  image?: string;
  build?: string | { context: string };
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  entrypoint?: string[];
  command?: string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const { services } = compose;
const service = (name: string): Service => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
};
/** `host:container` port pairs of a service. */
const ports = (name: string) =>
  (service(name).ports ?? []).map((p) => {
    const [host, container] = p.split(':').map(Number);
    return { host, container };
  });

const initName = 'temporal-search-attributes';
/** The init container's script as a shell sees it (compose turns `$$` into `$`). */
const initScript = () => service(initName).command!.join('\n').replaceAll('$$', '$');

describe('docker-compose.yml agrees with the code', () => {
  it('publishes the Temporal frontend on the port clients and `meridian dev` default to', () => {
    expect(ports('temporal')).toContainEqual({ host: DEFAULT_PORT, container: 7233 });
    expect(DEFAULT_ADDRESS).toBe(`localhost:${DEFAULT_PORT}`);
  });

  it('publishes the UI on the dev server UI port', () => {
    expect(ports('temporal-ui')).toContainEqual({ host: DEFAULT_UI_PORT, container: 8080 });
    expect(service('temporal-ui').environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('runs the server on PostgreSQL with the default namespace', () => {
    const env = service('temporal').environment!;
    expect(service('temporal').image).toMatch(/^temporalio\/auto-setup:/);
    expect(env.DB).toBe('postgres12');
    expect(services[env.POSTGRES_SEEDS!]?.image).toMatch(/^postgres:/);
    expect(env.DEFAULT_NAMESPACE).toBe(DEFAULT_NAMESPACE);
    expect(service('temporal').depends_on?.postgresql?.condition).toBe('service_healthy');
  });

  it('registers exactly the search attributes the workflows write, in the namespace the worker uses', () => {
    const env = service(initName).environment!;
    const declared = Object.fromEntries(env.SEARCH_ATTRIBUTES!.split(/\s+/).map((pair) => pair.split('=')));
    expect(declared).toEqual(SEARCH_ATTRIBUTES);
    expect(env.NAMESPACE).toBe(DEFAULT_NAMESPACE);
    expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('points the worker at the server, namespace and task queue of the code, after the attributes exist', () => {
    const worker = service('worker');
    expect(worker.build).toBe('.');
    expect(worker.environment).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: DEFAULT_NAMESPACE,
      MERIDIAN_TASK_QUEUE: TASK_QUEUE,
    });
    expect(worker.depends_on?.[initName]?.condition).toBe('service_completed_successfully');
  });

  it('builds the worker image on Node 24 and starts the CLI worker command', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24\b/m);
    expect(dockerfile).toMatch(/npm ci/);
    expect(dockerfile).toContain('CMD ["node", "bin/meridian.js", "worker"]');
  });
});

const cli = findTemporalCli();

describe.skipIf(!cli)('the search attribute init script', () => {
  it('registers every attribute on a real server, and a second run changes nothing and succeeds', async () => {
    const env = await TestWorkflowEnvironment.createLocal({ server: { executable: temporalExecutable() } });
    try {
      const run = () =>
        execFileSync('/bin/sh', ['-c', initScript()], {
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            ...process.env,
            ...service(initName).environment,
            TEMPORAL_ADDRESS: env.address,
            PATH: `${dirname(cli!)}:${process.env.PATH}`,
          },
        });
      run();
      const list = async () =>
        (await env.connection.operatorService.listSearchAttributes({ namespace: DEFAULT_NAMESPACE })).customAttributes ?? {};
      const after = await list();
      // IndexedValueType: 2 = Keyword, 7 = KeywordList.
      const expected = Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([n, t]) => [n, t === 'KeywordList' ? 7 : 2]));
      expect(Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((n) => [n, after[n]]))).toEqual(expected);
      expect(run()).toMatch(/search attribute MeridianRegions exists/);
      expect(await list()).toEqual(after);
    } finally {
      await env.teardown();
    }
  });
});
