/**
 * What a signed approval costs the workflow: the median time of the command table's decision on
 * an approval, unsigned and signed (parse the statement, check it, verify the Ed25519 signature
 * in pure JavaScript), as the update validator and then the handler run it.
 *
 *   MERIDIAN_BENCH_ONLY=approvalCheck npm run bench
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approvalStatement, type GateFacts } from '../domain/approval-policy';
import { decide, type CommandContext } from '../domain/commands';
import { quantile, round } from './stats';

const GATE: GateFacts = { gate: 'prod', since: '2026-12-01T11:58:00.000Z' };
const IDS = { rolloutId: 'rollout/bench/1.0.0', runId: 'run-1', service: 'bench' };
const NOW = Date.parse('2026-12-01T12:00:00.000Z');

function context(key: string, signed: boolean): CommandContext {
  return {
    regions: [{ name: 'eu-west-1', phase: 'AwaitingApproval', inFlight: true, held: false, drifted: false, approvals: [{ ...GATE, signed }] }],
    paused: false,
    aborted: false,
    approval: { ...IDS, now: NOW, startedBy: 'carol', enforced: false, approvers: [{ name: 'alice', key }] },
  };
}

function timed(run: () => unknown, n: number): number[] {
  for (let i = 0; i < 50; i++) run();
  return Array.from({ length: n }, () => {
    const t0 = performance.now();
    run();
    return (performance.now() - t0) * 1000;
  });
}

export function approvalCheckFigures(n = 2_000) {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-keys-'));
  try {
    const file = join(dir, 'alice');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    const key = readFileSync(`${file}.pub`, 'utf8').trim();
    const statement = approvalStatement(GATE, 'eu-west-1', 'alice', IDS, NOW - 1_000, 600_000);
    const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', file, '-n', 'meridian-approval'], { input: statement, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
    const unsigned = context(key, false);
    const signedCtx = context(key, true);
    const plain = timed(() => decide('running', { kind: 'approve', region: 'eu-west-1', by: 'alice' }, unsigned), n);
    const signed = timed(() => decide('running', { kind: 'approve', region: 'eu-west-1', by: 'alice', signature: { statement, signature } }, signedCtx), n);
    const medianUs = (xs: number[]) => round(quantile(xs, 0.5), 1);
    return {
      decisions: n,
      unsigned: { medianUs: medianUs(plain), p95Us: round(quantile(plain, 0.95), 1) },
      signed: { medianUs: medianUs(signed), p95Us: round(quantile(signed, 0.95), 1) },
      signedToUnsignedMedianRatio: round(medianUs(signed) / medianUs(plain), 1),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
