import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { CONTRACT_FAILURE, type ContractVersion } from '../../domain/contract-verdict';
import { isExecutable } from '../../lib/binaries';

export const BUF_PATH_ENV = 'MERIDIAN_BUF_PATH';

/** The directories, inside one temporary root, that the two versions are written to; buf's paths start with them. */
export const PREVIOUS_DIR = 'previous';
export const NEXT_DIR = 'next';

/**
 * The rules: can a consumer built against the previous contract still talk to the new provider?
 * That is a question about the bytes on the wire and the JSON that Connect, gRPC-JSON transcoding
 * and gateways send, so the category is WIRE_JSON, not FILE. FILE guards generated source code:
 * it refuses moving a message to another file, a changed go_package or java_package, and deleting
 * a field whose number and name are reserved, none of which a running consumer notices.
 *
 * WIRE_JSON looks at messages only, so three rules are added for the methods a consumer calls,
 * whose gRPC path is `/<package>.<Service>/<Rpc>`: RPC_NO_DELETE (a renamed or deleted rpc),
 * PACKAGE_SERVICE_NO_DELETE (a renamed or deleted service, wherever it moves among the files) and
 * PACKAGE_NO_DELETE (a whole package gone, which the rule before it does not see). WIRE_JSON
 * already checks request and response types, streaming and idempotency.
 *
 * No `deps`: buf must never reach the network. Imports resolve inside the contract, and buf
 * carries the well-known types (google/protobuf/*.proto) itself.
 */
export const BUF_YAML = ['version: v2', 'breaking:', '  use:', '    - WIRE_JSON', '    - RPC_NO_DELETE', '    - PACKAGE_SERVICE_NO_DELETE', '    - PACKAGE_NO_DELETE', ''].join('\n');

/** Where the npm package keeps the binary of each platform, as its own launcher finds it. */
function platformPackage(): string {
  const arch = process.arch === 'arm64' && process.platform === 'linux' ? 'aarch64' : process.arch === 'arm' ? 'armv7' : process.arch;
  return `@bufbuild/buf-${process.platform}-${arch}`;
}

/**
 * The buf binary: MERIDIAN_BUF_PATH, else the platform binary of the `@bufbuild/buf` dependency,
 * else that package's launcher (a Node script that starts the same binary, some 40 ms slower).
 */
export function findBuf(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[BUF_PATH_ENV];
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw ApplicationFailure.nonRetryable(`${BUF_PATH_ENV}=${fromEnv} is not an executable file; fix the path or unset ${BUF_PATH_ENV}`, CONTRACT_FAILURE.checkFailed);
  }
  const here = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = here.resolve('@bufbuild/buf/package.json');
  } catch {
    throw ApplicationFailure.nonRetryable(`buf is not installed: the @bufbuild/buf package is missing; run npm install, or set ${BUF_PATH_ENV}`, CONTRACT_FAILURE.checkFailed);
  }
  const exe = process.platform === 'win32' ? '.exe' : '';
  try {
    const native = createRequire(manifest).resolve(`${platformPackage()}/bin/buf${exe}`);
    if (isExecutable(native)) return native;
  } catch {
    // no binary package for this platform: the launcher knows the other places
  }
  const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> }).bin?.buf ?? 'bin/buf';
  const launcher = join(dirname(manifest), bin);
  if (isExecutable(launcher)) return launcher;
  throw ApplicationFailure.nonRetryable(`buf is not installed: no binary in ${dirname(manifest)}; run npm install, or set ${BUF_PATH_ENV}`, CONTRACT_FAILURE.checkFailed);
}

export interface BufOptions {
  /** Default 30 s; one run takes well under a second. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 30_000;

async function writeModule(dir: string, version: ContractVersion): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'buf.yaml'), BUF_YAML);
  for (const [path, text] of Object.entries(version.files)) {
    const file = join(dir, ...path.split('/'));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}

/**
 * Runs `buf breaking next --against previous --error-format json` on the two versions, each written
 * as a module of its own into a fresh temporary directory that is removed afterwards, and returns
 * what buf printed: one annotation a line, breaking changes and compile errors alike. The paths of
 * the files must have been checked (see contractVersionProblems).
 */
export async function runBufBreaking(previous: ContractVersion, next: ContractVersion, opts: BufOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const buf = findBuf(env);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const root = await mkdtemp(join(tmpdir(), 'meridian-buf-'));
  try {
    await writeModule(join(root, PREVIOUS_DIR), previous);
    await writeModule(join(root, NEXT_DIR), next);
    return await new Promise<string>((resolve, reject) => {
      execFile(
        buf,
        ['breaking', NEXT_DIR, '--against', PREVIOUS_DIR, '--error-format', 'json'],
        { cwd: root, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', env: { ...env, BUF_CACHE_DIR: join(root, 'cache') } },
        (err, stdout, stderr) => {
          // 100: buf found something to report (breaking changes or compile errors), printed on stdout
          if (!err || err.code === 100) return resolve(stdout);
          const why = err.killed ? `did not finish within ${timeoutMs} ms` : `failed (${err.code ?? err.signal ?? err.message}): ${stderr.trim() || stdout.trim() || err.message}`;
          reject(ApplicationFailure.create({ message: `contract "${next.contract}": buf breaking ${why}`, type: CONTRACT_FAILURE.checkFailed, nonRetryable: !err.killed }));
        },
      );
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
