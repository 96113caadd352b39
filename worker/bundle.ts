import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundlePath } from '@temporalio/worker';

const ROOT = resolve(import.meta.dirname, '..');
export const WORKFLOWS_PATH = join(ROOT, 'workflows', 'index.ts');
/** What the workflow bundle is built from; the bundle is rebuilt when any of it changes. */
const INPUTS = [join(ROOT, 'workflows'), join(ROOT, 'domain')];
const SDK_PACKAGE = join(ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json');
/** Bundles of older sources are removed after a day, in case a process still starting uses one. */
const STALE_MS = 24 * 3_600_000;

export function defaultBundleDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MERIDIAN_BUNDLE_DIR || join(homedir(), '.cache', 'meridian', 'workflow-bundles');
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.[cm]?[jt]s$/.test(entry.name)) yield path;
  }
}

/** A digest of the workflow sources, the domain they import and the SDK's version. */
export function workflowSourceHash(): string {
  const hash = createHash('sha256');
  for (const dir of INPUTS) {
    if (!existsSync(dir)) continue;
    for (const file of sources(dir)) hash.update(file.slice(ROOT.length)).update(readFileSync(file));
  }
  if (existsSync(SDK_PACKAGE)) hash.update(readFileSync(SDK_PACKAGE));
  return hash.digest('hex').slice(0, 16);
}

function removeStale(dir: string, keep: string[]): void {
  const cutoff = Date.now() - STALE_MS;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!keep.includes(path) && name.startsWith('workflow-bundle.') && statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
  }
}

type BundleLogger = NonNullable<Parameters<typeof bundleWorkflowCode>[0]['logger']>;

/** Where the bundler's output of a bundle goes: beside the bundle, never into the output of the command that bundles. */
export function bundleLogFile(codePath: string): string {
  return `${codePath}.log`;
}

/** A logger that keeps what the bundler reports, webpack's summary included, as lines to write to the bundle's log file. */
function recordingLogger(lines: string[], also?: BundleLogger): BundleLogger {
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    lines.push(`${new Date().toISOString()} [${level}] ${message}${meta && Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : ''}`);
    also?.[level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error'](message, meta);
  };
  return { log: (level, message, meta) => at(level)(message, meta), trace: at('TRACE'), debug: at('DEBUG'), info: at('INFO'), warn: at('WARN'), error: at('ERROR') };
}

/** The lines of webpack's report that say why a bundle failed. */
function bundleErrors(lines: string[]): string[] {
  return lines
    .flatMap((entry) => entry.split('\n'))
    .filter((line) => /^(ERROR in |Module not found|.*error TS\d+|Error: )/.test(line.replace(/^\S+ \[ERROR\] /, '')))
    .map((line) => line.replace(/^\S+ \[ERROR\] /, ''))
    .slice(0, 12);
}

export interface BundleOptions {
  dir?: string;
  /**
   * A module with a `failureConverter` export that the workflow sandbox converts failures with (the
   * encrypting worker's, client/failure-converter.ts); the default converter without it. Each gets a bundle of its own.
   */
  failureConverterPath?: string;
  /**
   * Also told what webpack reports while bundling. Either way the report goes to the bundle's log
   * file (bundleLogFile), not to the console, and a failed bundle's error names webpack's errors.
   */
  logger?: BundleLogger;
}

/**
 * The workflow code bundled once per change of its sources and kept in `dir`, so a worker that
 * restarts polls within a second or two instead of waiting for webpack. Written aside and renamed,
 * so a concurrent process never reads half a bundle.
 */
export async function cachedWorkflowBundle(opts: BundleOptions = {}): Promise<WorkflowBundlePath> {
  const dir = opts.dir ?? defaultBundleDir();
  mkdirSync(dir, { recursive: true });
  const converter = opts.failureConverterPath;
  const variant = converter ? `.fc-${createHash('sha256').update(converter).update(readFileSync(converter)).digest('hex').slice(0, 8)}` : '';
  const file = join(dir, `workflow-bundle.${workflowSourceHash()}${variant}.js`);
  if (!existsSync(file)) {
    const logFile = bundleLogFile(file);
    const lines: string[] = [];
    let code: string;
    try {
      ({ code } = await bundleWorkflowCode({
        workflowsPath: WORKFLOWS_PATH,
        ...(converter ? { failureConverterPath: converter } : {}),
        logger: recordingLogger(lines, opts.logger),
      }));
    } catch (err) {
      writeFileSync(logFile, `${lines.join('\n')}\n`);
      const why = bundleErrors(lines);
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`the workflow code did not bundle: ${message}${why.length > 0 ? `\n${why.join('\n')}` : ''}\nwebpack's report is in ${logFile}`, { cause: err });
    }
    writeFileSync(logFile, `${lines.join('\n')}\n`);
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, code);
    renameSync(partial, file);
    removeStale(dir, [file, logFile]);
  }
  return { codePath: file };
}
