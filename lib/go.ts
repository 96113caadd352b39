import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { promisify } from 'node:util';
import { realHost, requireTool } from './tools';

const execFileAsync = promisify(execFile);

/**
 * GO, PATH, /usr/local/go, GOROOT or the project's cache (lib/tools.ts); a Go from 1.21 on fetches
 * the toolchain the wrapper modules ask for. When there is none, throws the line that says how to install it.
 */
export function findGo(env: NodeJS.ProcessEnv = process.env): string {
  return requireTool('go', realHost(env));
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
