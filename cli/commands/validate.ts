import type { Command } from 'commander';
import { CliError, ExitCode } from '../exit-codes';
import { print, printJson } from '../context';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a rollout spec without starting anything')
    .argument('<spec>', 'rollout spec file (YAML)')
    .option('--json', 'print { file, valid, waves, regions, warnings } or { file, valid: false, problems } only')
    .action(async (file: string, opts: { json?: boolean }) => {
      const [{ loadSpecOrFail }, { loadSpec }, { specWarnings }] = await Promise.all([
        import('../load'),
        import('../../client/spec-file'),
        import('../../domain/warnings'),
      ]);
      if (opts.json) {
        const loaded = await loadSpec(file).catch((err: unknown) => ({ ok: false as const, problems: [{ path: '', message: err instanceof Error ? err.message : String(err) }] }));
        if (!loaded.ok) {
          printJson({ file, valid: false, problems: loaded.problems });
          throw new CliError('', ExitCode.Usage);
        }
        const { spec, plan } = loaded;
        printJson({ file, valid: true, waves: plan.waves.map((w) => ({ name: w.name, regions: w.regions })), regions: Object.keys(plan.regions), warnings: specWarnings(spec) });
        return;
      }
      const { spec, plan } = await loadSpecOrFail(file);
      for (const w of specWarnings(spec)) process.stderr.write(`${file}: warning: ${w}\n`);
      const regions = Object.keys(plan.regions).length;
      print(`${file}: valid (${plan.waves.length} wave${plan.waves.length === 1 ? '' : 's'}, ${regions} region${regions === 1 ? '' : 's'})`);
    });
}
