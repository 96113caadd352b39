import { Option, type Command } from 'commander';
import type { RolloutListItem } from '../../client/rollout-client';
import type { RolloutPhase } from '../../domain/status';
import { print, printJson, withClient } from '../context';
import { integer, name } from '../options';

const PHASES: RolloutPhase[] = ['Pending', 'Progressing', 'Paused', 'AwaitingApproval', 'RollingBack', 'Succeeded', 'RolledBack', 'NeedsAttention', 'Failed'];
export const MAX_LIST_LIMIT = 10_000;

export function renderList(items: RolloutListItem[]): string {
  if (items.length === 0) return 'no rollouts found';
  const rows = [
    ['ID', 'PHASE', 'SERVICE', 'VERSION', 'REGIONS', 'STARTED'],
    ...items.map((i) => [i.id, i.phase, i.service, i.version, String(i.regions.length), i.startTime.toISOString().slice(0, 19) + 'Z']),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list rollouts, newest first')
    .addOption(new Option('--phase <phase>', 'only rollouts in this phase').choices(PHASES))
    .option('--service <service>', 'only rollouts of this service', name)
    .option('--limit <n>', `at most this many (1 to ${MAX_LIST_LIMIT})`, integer(1, MAX_LIST_LIMIT), 50)
    .option('--json', 'print machine-readable JSON only')
    .action(async (opts: { phase?: RolloutPhase; service?: string; limit: number; json?: boolean }, cmd: Command) => {
      const items = await withClient(cmd, (client) => client.list({ phase: opts.phase, service: opts.service, limit: opts.limit }));
      if (opts.json) printJson(items);
      else print(renderList(items));
    });
}
