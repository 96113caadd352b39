import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { quantile } from './stats';

export interface CliStartupFigure {
  command: string;
  /** Median wall time of one whole `meridian` process, from spawn to exit. */
  medianMs: number;
  p90Ms: number;
  trials: number;
}

const ROOT = join(import.meta.dirname, '..');


/**
 * How long a user waits for `meridian --help`, `validate` and `status`: whole processes, run the
 * way `npx meridian` runs them (bin/meridian.js on this Node). The first run of each is a warm-up.
 */
export function cliStartupFigures(address: string, rolloutId: string, trials: number): CliStartupFigure[] {
  const commands: [string, string[]][] = [
    ['--help', ['--help']],
    ['validate examples/demo.yaml', ['validate', 'examples/demo.yaml']],
    ['status <id>', ['status', rolloutId, '--address', address]],
  ];
  return commands.map(([command, args]) => {
    const times: number[] = [];
    for (let i = 0; i <= trials; i++) {
      const started = performance.now();
      const run = spawnSync(process.execPath, [join(ROOT, 'bin', 'meridian.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
      const ms = performance.now() - started;
      if (run.status !== 0) throw new Error(`meridian ${args.join(' ')} exited ${run.status}: ${run.stderr.trim()}`);
      if (i > 0) times.push(ms);
    }
    return { command, medianMs: Math.round(quantile(times, 0.5)), p90Ms: Math.round(quantile(times, 0.9)), trials };
  });
}
