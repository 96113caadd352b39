import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findTemporalCli } from '../../lib/binaries';
import { ensureServerBinaries, portsFrom, TEMPORAL_IMAGE_TAG } from '../../cluster/index';
import { DATABASES, SCHEMA_SCRIPT } from '../../cluster/postgres';
import { CONFIG_FILE, configEnv, DYNAMIC_CONFIG_FILE } from '../../cluster/services';
import { startTestCluster } from '../support/cluster';
import { tempDir } from '../support/temp-dir';
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
  volumes?: string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
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

const initName = 'temporal-init';
const schemaName = 'temporal-schema';
const DEPLOY_DIR = dirname(CONFIG_FILE);

/** Where a service mounts a folder of the repository. */
function mountOf(name: string, hostDir: string): string {
  const volume = (service(name).volumes ?? []).map((v) => v.split(':')).find(([host]) => resolve(ROOT, host!) === hostDir);
  if (!volume) throw new Error(`${name} does not mount ${relative(ROOT, hostDir)}`);
  return volume[1]!;
}
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

  it('runs the server release of the local cluster on PostgreSQL, with its configuration file and schema script', () => {
    const server = service('temporal');
    expect(server.image).toBe(`temporalio/server:${TEMPORAL_IMAGE_TAG}`);
    expect(service(schemaName).image).toBe(`temporalio/admin-tools:${TEMPORAL_IMAGE_TAG}`);
    const env = server.environment!;
    const mount = mountOf('temporal', DEPLOY_DIR);
    expect(env.TEMPORAL_SERVER_CONFIG_FILE_PATH).toBe(`${mount}/${basename(CONFIG_FILE)}`);
    expect(env.DYNAMIC_CONFIG_FILE_PATH).toBe(`${mount}/${basename(DYNAMIC_CONFIG_FILE)}`);
    expect(services[env.POSTGRES_SEEDS!]?.image).toMatch(/^postgres:/);
    expect(env.DBNAME).toBe(DATABASES.temporal);
    expect(env.VISIBILITY_DBNAME).toBe(DATABASES.visibility);
    expect(server.depends_on?.[schemaName]?.condition).toBe('service_completed_successfully');
  });

  it('sets only variables the configuration reads, as the local cluster does', () => {
    const read = new Set([...readFileSync(CONFIG_FILE, 'utf8').matchAll(/\(env "([A-Z_]+)"\)/g)].map((m) => m[1]));
    const serverOnly = ['TEMPORAL_SERVER_CONFIG_FILE_PATH', 'TEMPORAL_ALLOW_NO_AUTH', 'TEMPORAL_BROADCAST_ADDRESS'];
    const unread = (vars: string[]) => vars.filter((v) => !read.has(v) && !serverOnly.includes(v));
    expect(unread(Object.keys(service('temporal').environment!))).toEqual([]);
    expect(unread(Object.keys(configEnv(portsFrom(7233))))).toEqual([]);
  });

  it('applies the schema with the script the local cluster runs, on the databases it uses', () => {
    const schema = service(schemaName);
    const mount = mountOf(schemaName, DEPLOY_DIR);
    expect(schema.entrypoint).toEqual(['sh', `${mount}/${basename(SCHEMA_SCRIPT)}`]);
    expect(schema.environment).toMatchObject({ DBNAME: DATABASES.temporal, VISIBILITY_DBNAME: DATABASES.visibility });
    expect(schema.environment?.SCHEMA_DIR).toMatch(/\/postgresql\/v12$/);
    expect(schema.depends_on?.postgresql?.condition).toBe('service_healthy');
  });

  it('registers the namespace and exactly the search attributes the workflows write, in the namespace the worker uses', () => {
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

describe('the configuration, rendered by the real server with the compose environment', () => {
  it('binds all interfaces, reaches PostgreSQL by its service name, and reads the mounted dynamic config', async () => {
    const { server } = await ensureServerBinaries({ log: () => {} });
    const dir = tempDir('meridian-render-');
    // render-config reads only a config folder, as <env>.yaml.
    copyFileSync(CONFIG_FILE, join(dir, 'compose.yaml'));
    const out = execFileSync(server, ['--config', dir, '--env', 'compose', 'render-config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...service('temporal').environment },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const rendered = parse(out) as RenderedConfig;
    const { datastores } = rendered.persistence;
    expect(Object.values(datastores).map((d) => [d.sql.connectAddr, d.sql.databaseName, d.sql.user])).toEqual([
      ['postgresql:5432', DATABASES.temporal, 'temporal'],
      ['postgresql:5432', DATABASES.visibility, 'temporal'],
    ]);
    expect(Object.values(rendered.services).map((svc) => svc.rpc.bindOnIP)).toEqual(['0.0.0.0', '0.0.0.0', '0.0.0.0', '0.0.0.0']);
    expect(rendered.services.frontend.rpc.grpcPort).toBe(7233);
    expect(rendered.dynamicConfigClient.filepath).toBe(service('temporal').environment!.DYNAMIC_CONFIG_FILE_PATH);
  });
});

interface RenderedConfig {
  persistence: { datastores: Record<string, { sql: { connectAddr: string; databaseName: string; user: string } }> };
  services: Record<string, { rpc: { bindOnIP: string; grpcPort: number } }>;
  dynamicConfigClient: { filepath: string };
}

describe.skipIf(!cli)('the init script', () => {
  it('on the local cluster, creates the namespace and registers every attribute; a second run changes nothing and succeeds', async () => {
    const cluster = await startTestCluster();
    const namespace = 'compose-init';
    try {
      const run = () =>
        execFileSync('/bin/sh', ['-c', initScript()], {
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            ...process.env,
            ...service(initName).environment,
            NAMESPACE: namespace,
            TEMPORAL_ADDRESS: cluster.address,
            PATH: `${dirname(cli!)}:${process.env.PATH}`,
          },
        });
      run();
      const connection = await Connection.connect({ address: cluster.address });
      try {
        const list = async () => (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
        const after = await list();
        // IndexedValueType: 2 = Keyword, 7 = KeywordList.
        const expected = Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([n, t]) => [n, t === 'KeywordList' ? 7 : 2]));
        expect(Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((n) => [n, after[n]]))).toEqual(expected);
        const described = await connection.workflowService.describeNamespace({ namespace });
        expect(Number(described.config?.workflowExecutionRetentionTtl?.seconds)).toBe(7 * 24 * 3600);
        run();
        expect(await list()).toEqual(after);
      } finally {
        await connection.close();
      }
    } finally {
      await cluster.stop();
    }
  });
});
