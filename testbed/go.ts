import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The usual install location of the official Go tarball, tried after GO and PATH. */
const STANDARD_GO = '/usr/local/go/bin/go';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findGo(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GO) return env.GO;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'go'))) return join(dir, 'go');
  }
  if (executable(STANDARD_GO)) return STANDARD_GO;
  throw new Error('the Go toolchain is needed to build the Kubernetes binaries once: install Go >= 1.26 or set GO=/path/to/go');
}

export interface ModuleInfo {
  Path: string;
  Version: string;
  Dir: string;
  GoMod: string;
}

/** Downloads one module into the Go module cache and says where it landed. */
export async function downloadModule(go: string, module: string, version: string, cwd: string): Promise<ModuleInfo> {
  const { stdout } = await execFileAsync(go, ['mod', 'download', '-json', `${module}@${version}`], {
    cwd,
    env: { ...process.env, GOFLAGS: '-mod=mod' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const info = JSON.parse(stdout) as ModuleInfo & { Error?: string };
  if (info.Error) throw new Error(`go mod download ${module}@${version}: ${info.Error}`);
  return info;
}

/** Runs a go command with its output appended to `logFile`; rejects with the log's tail on failure. */
export function runGo(go: string, args: string[], opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    log.write(`$ go ${args.join(' ')}\n`);
    const child = spawn(go, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      log.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => log.end(() => reject(err)));
    child.on('close', (code) =>
      log.end(() => (code === 0 ? resolve() : reject(new Error(`go ${args.join(' ')} failed (exit ${code}); log ${opts.logFile}:\n${tail}`)))),
    );
  });
}
