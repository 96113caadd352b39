import { Option, type Command } from 'commander';
import type { AuditTrail } from '../../client/audit-trail';
import type { VerifyReport } from '../../client/audit-verify';
import { CliError, ExitCode } from '../exit-codes';
import { print, printJson, withClient } from '../context';
import { name } from '../options';
import { AUDIT_FORMATS, type AuditFormat } from '../render-audit';

export interface AuditOptions {
  format: AuditFormat;
  json?: boolean;
  verify?: boolean;
}

/**
 * Every decision and operator action of a rollout, oldest first: from the status query while it
 * runs, from its history once it ended or when no worker answers.
 */
export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      "export a rollout's audit trail: who did what, when, where and why, with the verdicts each decision rests on and any signature; " +
        'read from the running rollout, or from its history once it ended or when no worker answers (no worker needed)',
    )
    .argument('<id>', 'rollout workflow id', name)
    .addOption(new Option('--format <format>', 'text: one line per entry; jsonl: one JSON object per entry; csv: a header row, data and evidence as JSON columns').choices(AUDIT_FORMATS).default('text'))
    .option('--json', 'print one JSON document instead: the entries, where they were read (source: query or history) and whether the trail is complete')
    .option('--verify', 'check every signed approval again from the trail alone, and print the verdicts instead of the entries (exit 8 when one fails)')
    .addHelpText(
      'after',
      '\nColumns of jsonl and csv: at, actor, action, region, service, reason, data, evidence.\n' +
        'A rollout that ended with no final status of its own (terminated, timed out) or that no worker answers for is pieced together\n' +
        "from its history's events: region stages' entries, the start and operator commands; --json then says complete: false.",
    )
    .action(async (id: string, opts: AuditOptions, cmd: Command) => {
      const [{ readAuditTrail }, { renderAudit }] = await Promise.all([import('../../client/audit-trail'), import('../render-audit')]);
      await withClient(cmd, async (client) => {
        const trail = await readAuditTrail(client, id);
        if (opts.verify) return verify(trail, (await import('../../client/audit-verify')).verifyAuditTrail(trail.id, trail.entries), opts);
        if (opts.json) return printJson(trail);
        const text = renderAudit(trail, opts.format);
        if (text !== '') print(text);
        // The text heading says so itself; jsonl and csv hold entries only.
        if (!trail.complete && opts.format !== 'text') {
          process.stderr.write(`meridian: the audit of ${id} is partial: it has no final status in history, so entries the rollout kept only in memory are missing\n`);
        }
      });
    });
}

/** One line per approval and a summary; --json the report. Exit 8 when a signature does not verify. */
function verify(trail: AuditTrail, report: VerifyReport, opts: AuditOptions): void {
  if (opts.json) printJson({ ...report, source: trail.source, complete: trail.complete });
  else {
    for (const c of report.checks) {
      const where = `${c.region ?? ''}${c.service ? `/${c.service}` : ''} gate ${c.gate ?? '?'}`;
      const what = c.verdict === 'verified' ? `verified ${c.fingerprint}` : c.verdict === 'unsigned' ? 'unsigned' : `${c.verdict.toUpperCase()}: ${c.problem}`;
      print(`${c.at} ${c.approver} ${where}: ${what}`);
    }
    print(`${trail.id}: ${report.verified} verified, ${report.failed} failed, ${report.unsigned} unsigned${report.unverifiable ? `, ${report.unverifiable} without a key to check` : ''}`);
  }
  if (report.failed > 0) throw new CliError(`${report.failed} signed approval${report.failed === 1 ? '' : 's'} of ${trail.id} did not verify`, ExitCode.VerifyFailed);
}
