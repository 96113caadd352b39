import type { Command } from 'commander';
import { print } from '../context';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a rollout spec without starting anything')
    .argument('<spec>', 'rollout spec file (YAML)')
    .action(async (file: string) => {
      const [{ loadSpecOrFail }, { specWarnings }] = await Promise.all([import('../load'), import('../../domain/warnings')]);
      const { spec, plan } = await loadSpecOrFail(file);
      for (const w of specWarnings(spec)) process.stderr.write(`${file}: warning: ${w}\n`);
      const regions = Object.keys(plan.regions).length;
      print(`${file}: valid (${plan.waves.length} wave${plan.waves.length === 1 ? '' : 's'}, ${regions} region${regions === 1 ? '' : 's'})`);
    });
}
