import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { downloadModule, findGo, runGo } from '../lib/go';
import { withLock } from '../lib/lock';
import { TEMPORAL_SERVER_MODULE, TEMPORAL_SERVER_VERSION } from './versions';

export type Log = (line: string) => void;

export interface ServerBinaries {
  /** `cmd/server`: every service, chosen with `start --service`. */
  server: string;
  /** `cmd/tools/sql`: creates databases and applies the versioned schema. */
  sqlTool: string;
  /** The module's `schema/postgresql/v12`, with `temporal/versioned` and `visibility/versioned`. */
  schema: string;
}

/** Built once per server release, shared by every cluster on this machine. */
export function serverCache(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.MERIDIAN_TEMPORAL_CACHE || join(homedir(), '.cache', 'meridian', 'temporal-server'), TEMPORAL_SERVER_VERSION);
}

function layout(root: string): ServerBinaries {
  return {
    server: join(root, 'bin', 'temporal-server'),
    sqlTool: join(root, 'bin', 'temporal-sql-tool'),
    schema: join(root, 'schema', 'postgresql', 'v12'),
  };
}

const complete = (bins: ServerBinaries) => Object.values(bins).every((path) => existsSync(path));

async function install(go: string, root: string, pkg: string, name: string, log: Log): Promise<void> {
  const out = join(root, 'build', 'out');
  mkdirSync(out, { recursive: true });
  await runGo(go, ['install', `${TEMPORAL_SERVER_MODULE}/${pkg}@${TEMPORAL_SERVER_VERSION}`], {
    cwd: join(root, 'build'),
    logFile: join(root, 'build', 'build.log'),
    env: { GOBIN: out, CGO_ENABLED: '0' },
  });
  renameSync(join(out, pkg.split('/').pop()!), join(root, 'bin', name));
  log(`built ${name}`);
}

/**
 * The Temporal server and its SQL schema tool, built from the Go module proxy on first use
 * (about 10 min on 2 cores), with the module's PostgreSQL schema beside them; under a lock so
 * concurrent callers wait for one build.
 */
export async function ensureServerBinaries(opts: { log?: Log; env?: NodeJS.ProcessEnv } = {}): Promise<ServerBinaries> {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const root = serverCache(opts.env);
  const bins = layout(root);
  if (complete(bins)) return bins;
  return withLock(
    join(root, '.build.lock'),
    async () => {
      if (complete(bins)) return bins;
      const go = findGo(opts.env);
      mkdirSync(join(root, 'bin'), { recursive: true });
      mkdirSync(join(root, 'build'), { recursive: true });
      const started = Date.now();
      if (!existsSync(bins.schema)) {
        const mod = await downloadModule(go, TEMPORAL_SERVER_MODULE, TEMPORAL_SERVER_VERSION, join(root, 'build'));
        const tmp = `${bins.schema}.tmp`;
        rmSync(tmp, { recursive: true, force: true });
        cpSync(join(mod.Dir, 'schema', 'postgresql', 'v12'), tmp, { recursive: true });
        renameSync(tmp, bins.schema);
      }
      if (!existsSync(bins.sqlTool)) {
        log(`building the Temporal SQL schema tool ${TEMPORAL_SERVER_VERSION} (log: ${join(root, 'build', 'build.log')})`);
        await install(go, root, 'cmd/tools/sql', 'temporal-sql-tool', log);
      }
      if (!existsSync(bins.server)) {
        log(`building the Temporal server ${TEMPORAL_SERVER_VERSION} … (first run only, about 10 min on 2 cores)`);
        await install(go, root, 'cmd/server', 'temporal-server', log);
      }
      const seconds = Math.round((Date.now() - started) / 1000);
      writeFileSync(join(root, 'build.json'), `${JSON.stringify({ at: new Date().toISOString(), seconds }, null, 2)}\n`);
      log(`Temporal server binaries ready in ${join(root, 'bin')} (${seconds} s)`);
      return bins;
    },
    (holder) => log(`another process (pid ${holder}) is building the Temporal server; waiting for it`),
  );
}
