/**
 * Records workflow histories for the replay test (test/workflows/replay.test.ts). Run it after a
 * deliberate, versioned change to workflow code: `npm run histories [scenario...]` (all by default). The saved histories stand for
 * rollouts already running in production; replaying them against new code proves it still fits.
 */
import '../lib/require-node.js';
import { abortUpdate, approveUpdate, pauseUpdate, resumeUpdate, retryUpdate } from '../workflows/definitions';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { approvalStatement } from '../domain/approval-policy';
import { APPROVAL_NAMESPACE } from '../domain/ssh-signature';
import { hostname, tmpdir } from 'node:os';
import { FLAGD_DIR_ENV } from '../activities/flags/activities';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { regionWorkflowId, serviceWorkflowId } from '../workflows/definitions';
import { releasePlan, releaseSpec, UNCHANGED } from '../test/support/release';
import { startTimeSkipping } from '../test/workflows/harness';
import { BREACH_IN_WAVE_2, testPlan } from '../test/workflows/plans';
import { withRollout, type RolloutRun } from '../test/workflows/support';
import { compilePlan, type RolloutPlan } from '../domain/plan';
import { rolloutSpec } from '../domain/spec';
import { startPostgres } from '../test/support/postgres';
import { freshDatabases, MIGRATIONS, RECIPE } from '../test/support/stateful';
import { NEW_IMAGE, OLD_IMAGE } from '../test/workflows/plans';
import { edgeSpecInput, startEdgeBed, type EdgeBed } from '../test/support/edge-bed';
import { NotificationReceiver } from '../test/support/notification-receiver';
import type { NotificationEvent } from '../domain/notifications';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'test', 'histories');
/**
 * Histories of earlier workflow code stay: they stand for rollouts started before a change and
 * still running after it. Bump this when workflow code changes behind a `patched()` marker, or
 * gains a path no saved history takes (v5: releases of several services; v6: edges; v7: flags;
 * v8: approvers pinned at preflight, signed approvals, separation of duties, notifications).
 */
const SET = 'v8';

/** Histories are committed: stack traces lose this checkout's path, worker identities this machine's name. */
function scrub(json: string): string {
  const host = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return json.split(ROOT).join('<repo>').replace(new RegExp(`\\d+@${host}`, 'g'), 'recorder');
}

const STATEFUL_REGIONS = ['eu-west-1', 'us-east-1'];

/** Expand, canary, contract over two regions, each with its own database (the worker finds them by name). */
function statefulPlan(faults: string[]): RolloutPlan {
  const fast = { kind: 'analysis' as const, metrics: ['error_rate'], interval: '100ms', sustainedFor: '300ms', minSamples: 3 };
  return compilePlan(
    rolloutSpec.parse({
      service: 'checkout',
      version: '2.4.0',
      image: NEW_IMAGE,
      regions: STATEFUL_REGIONS.map((name) => ({ name, target: { kind: 'simulated', initial: { image: OLD_IMAGE } }, database: `orders-${name}` })),
      waves: STATEFUL_REGIONS.map((r, i) => ({ name: `wave-${i + 1}`, regions: [r] })),
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
      steps: [{ kind: 'setWeight', weight: 10 }, fast, { kind: 'setWeight', weight: 25 }, fast],
      simulation: { baseline: { error_rate: 0.004 }, faults },
      migrations: MIGRATIONS,
      reconciliations: [RECIPE],
    }),
  );
}

/** Four simulated regions behind the bed's two Envoy edges; us-east-1 mirrors before its canary takes traffic. */
function edgesPlan(bed: EdgeBed, faults: string[]): RolloutPlan {
  const region = (name: string, residency: string) => ({ name, target: { kind: 'simulated', initial: { image: OLD_IMAGE } }, labels: { residency } });
  const fast = { kind: 'analysis' as const, metrics: ['error_rate'], interval: '100ms', sustainedFor: '300ms', minSamples: 3 };
  return compilePlan(
    rolloutSpec.parse({
      service: 'checkout',
      version: '2.4.0',
      image: NEW_IMAGE,
      regions: [region('eu-west-1', 'eu'), region('eu-central-1', 'eu'), { ...region('us-east-1', 'us'), steps: [{ kind: 'mirror', percent: 50, duration: '300ms' }, fast, { kind: 'setWeight', weight: 25 }, fast] }, region('us-west-2', 'us')],
      waves: [{ regions: ['eu-west-1'] }, { regions: ['us-east-1', 'eu-central-1'] }, { regions: ['us-west-2'] }],
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
      steps: [{ kind: 'setWeight', weight: 25 }, fast],
      edges: edgeSpecInput(bed),
      steering: { returnSteps: [50], stepAnalysis: { interval: '100ms', sustainedFor: '300ms' }, driftCheck: '1s' },
      simulation: { baseline: { error_rate: 0.004 }, faults },
    }),
  );
}

/** Two regions with flag steps around a traffic step; flagd files in a folder of their own. */
function flagsPlan(faults: string[], onFailure?: 'killSwitchOnly'): RolloutPlan {
  const fast = { kind: 'analysis' as const, metrics: ['error_rate'], interval: '100ms', sustainedFor: '300ms', minSamples: 3 };
  return compilePlan(
    rolloutSpec.parse({
      service: 'checkout',
      version: '2.4.0',
      image: NEW_IMAGE,
      regions: ['eu-west-1', 'us-east-1'].map((name) => ({ name, target: { kind: 'simulated', initial: { image: OLD_IMAGE } } })),
      waves: [{ regions: ['eu-west-1'] }, { regions: ['us-east-1'] }],
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
      steps: [{ kind: 'flag', flag: 'checkout-new-path', variant: 'on', fraction: 10 }, { kind: 'setWeight', weight: 25 }, fast, { kind: 'flag', flag: 'checkout-new-path', variant: 'on', fraction: 50 }, fast],
      flags: [{ key: 'checkout-new-path', variants: { on: true, off: false }, killSwitch: 'off', safeWhenOff: true }],
      flagProvider: { type: 'flagd', file: 'checkout-{{region}}' },
      ...(onFailure ? { onFailure } : {}),
      simulation: { baseline: { error_rate: 0.004 }, faults },
    }),
  );
}

const keys = mkdtempSync(join(tmpdir(), 'meridian-histories-keys-'));
function keyFile(person: string): string {
  const file = join(keys, person);
  if (!existsSync(file)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', person, '-f', file]);
  return file;
}

/** A gate of two distinct signed approvers from group sre, in the first wave. */
function signedApprovalPlan(): RolloutPlan {
  const approvers = ['alice', 'bob'].map((name) => ({ name, key: readFileSync(`${keyFile(name)}.pub`, 'utf8').trim(), groups: ['sre'] }));
  const base = testPlan({
    waves: [
      { name: 'canary', regions: ['eu-west-1'], steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'go-live', groups: ['sre'], approvals: 2 }] },
      { name: 'rest', regions: ['us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] },
    ],
  });
  return { ...base, approval: { approvers, signedByDefault: true } };
}

/** A receiver that refuses each key's first request, so the histories hold a retried delivery. */
const HOOK_SECRET_ENV = 'MERIDIAN_HISTORIES_HOOK_SECRET';
const receiver = new NotificationReceiver({ secrets: { ops: 'histories-secret' }, refuse: 1 });
let hooks = '';

function notificationsPlan(faults: string[], events: NotificationEvent[]): RolloutPlan {
  return testPlan({
    waves: [
      { name: 'canary', regions: ['eu-west-1'], steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'go-live' }] },
      { name: 'rest', regions: ['us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] },
    ],
    notifications: [
      { name: 'ops', url: `${hooks}/hooks/ops`, events, secretEnv: HOOK_SECRET_ENV },
      { name: 'chat', url: `${hooks}/hooks/chat`, format: 'slack', events: ['approval-needed', 'succeeded'] },
    ],
    simulation: { baseline: { error_rate: 0.004 }, faults },
  });
}

type Scenario = { plan: RolloutPlan | ((bed: EdgeBed) => RolloutPlan); drive?: (run: RolloutRun) => Promise<void>; databases?: boolean; edges?: boolean };

const scenarios: Record<string, Scenario> = {
  'edges-breach': { plan: (bed) => edgesPlan(bed, ['eu-west-1: error_rate 0.08 when weight >= 25']), edges: true },
  'edges-mirror-happy-path': { plan: (bed) => edgesPlan(bed, []), edges: true },
  'flags-breach': { plan: flagsPlan(['us-east-1: error_rate 0.08 when weight >= 25']) },
  'flags-kill-switch-only': { plan: flagsPlan(['us-east-1: error_rate 0.08 when weight >= 25'], 'killSwitchOnly') },
  'stateful-contract': { plan: statefulPlan([]), databases: true },
  'stateful-rollback': { plan: statefulPlan(['us-east-1: error_rate 0.08 when weight >= 25']), databases: true },
  'happy-path': { plan: testPlan() },
  'breach-rollback-all': { plan: testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: [BREACH_IN_WAVE_2] } }) },
  'approval': {
    plan: testPlan({
      waves: [
        { name: 'canary', regions: ['eu-west-1'], steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'go-live' }] },
        { name: 'rest', regions: ['us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] },
      ],
    }),
    drive: async (run) => {
      await run.until((s) => s.pendingApprovals.length > 0, 'approval gate');
      await run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'alice' }] });
    },
  },
  'signed-approval': {
    plan: () => signedApprovalPlan(),
    drive: async (run) => {
      const waiting = await run.until((s) => s.pendingApprovals.length > 0, 'the signed gate');
      const gate = waiting.pendingApprovals[0]!;
      const runId = (await run.handle.describe()).runId;
      for (const by of ['alice', 'bob']) {
        // Workflow time on the time-skipping server runs ahead of the wall clock: the statement is dated from the gate's opening.
        const statement = approvalStatement(gate, gate.region, by, { rolloutId: run.handle.workflowId, runId, service: waiting.service }, Date.parse(gate.since), 3_600_000);
        const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', keyFile(by), '-n', APPROVAL_NAMESPACE], { input: statement, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
        await run.handle.executeUpdate(approveUpdate, { args: [{ region: gate.region, by, signature: { statement, signature } }] });
      }
    },
  },
  'notifications-approval': {
    plan: () => notificationsPlan([], ['started', 'wave-started', 'approval-needed', 'succeeded']),
    drive: async (run) => {
      await run.until((s) => s.pendingApprovals.length > 0, 'approval gate');
      await run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'alice' }] });
    },
  },
  'notifications-breach-rollback': {
    plan: () => notificationsPlan([BREACH_IN_WAVE_2], ['started', 'region-failed', 'rollback-started', 'rollback-finished']),
    drive: async (run) => {
      await run.until((s) => s.pendingApprovals.length > 0, 'approval gate');
      await run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'alice' }] });
    },
  },
  'alarm-blocker': {
    plan: testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: ['us-east-1: stable error_rate 0.08 always'] } }),
    drive: async (run) => {
      await run.until((s) => s.regions.some((r) => r.phase === 'WaitingForHealth'), 'the alarm blocker');
      run.fleet.clearFaults(run.handle.workflowId, 'us-east-1');
    },
  },
  'pause-resume': {
    plan: testPlan(),
    drive: async (run) => {
      await run.until((s) => s.regions.some((r) => r.weight > 0), 'a canary taking traffic');
      await run.handle.executeUpdate(pauseUpdate, { args: [{ by: 'oncall', reason: 'look first' }] });
      await run.until((s) => s.phase === 'Paused', 'the pause');
      await run.handle.executeUpdate(resumeUpdate, { args: [{ by: 'oncall' }] });
    },
  },
  'abort-in-analysis': {
    plan: testPlan(),
    drive: async (run) => {
      await run.until((s) => s.regions.some((r) => r.step?.kind === 'analysis'), 'an analysis');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'bad release' }] });
    },
  },
  'pause-policy-retry': {
    plan: testPlan({ failurePolicy: 'pause', simulation: { baseline: { error_rate: 0.004 }, faults: [BREACH_IN_WAVE_2] } }),
    drive: async (run) => {
      await run.until((s) => s.regions.some((r) => r.name === 'us-east-1' && r.phase === 'Paused'), 'the hold');
      run.fleet.clearFaults(run.handle.workflowId, 'us-east-1');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall', region: 'us-east-1' }] });
    },
  },
  'release-breach': {
    plan: releasePlan(releaseSpec(UNCHANGED, ['checkout/us-east-1: checkout_errors 0.08 when weight >= 25'], [['eu-west-1'], ['us-east-1', 'ap-south-1']])),
  },
  'release-happy-path': { plan: releasePlan(releaseSpec()) },
  'needs-attention-retry': {
    plan: testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: [BREACH_IN_WAVE_2, 'eu-west-1: fail restore always'] } }),
    drive: async (run) => {
      await run.until((s) => s.phase === 'NeedsAttention', 'NeedsAttention');
      run.fleet.clearFaults(run.handle.workflowId, 'eu-west-1');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall' }] });
    },
  },
};

async function main() {
  const flagsDir = (process.env[FLAGD_DIR_ENV] ??= mkdtempSync(join(tmpdir(), 'meridian-histories-flags-')));
  for (const region of ['eu-west-1', 'us-east-1']) writeFileSync(join(flagsDir, `checkout-${region}.json`), '{\n  "flags": {}\n}\n');
  process.env[HOOK_SECRET_ENV] = 'histories-secret';
  hooks = await receiver.start();
  const [env, postgres] = await Promise.all([startTimeSkipping(), startPostgres({ databases: [] })]);
  try {
    const only = process.argv.slice(2);
    const unknown = only.filter((n) => !(n in scenarios));
    if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')} (scenarios: ${Object.keys(scenarios).join(', ')})`);
    for (const [name, { plan: planned, drive, databases, edges }] of Object.entries(scenarios).filter(([n]) => only.length === 0 || only.includes(n))) {
      if (databases) await freshDatabases(postgres, STATEFUL_REGIONS.map((r) => `orders-${r}`));
      const bed = edges ? await startEdgeBed() : undefined;
      const plan = typeof planned === 'function' ? planned(bed!) : planned;
      await withRollout(env, plan, async (run) => {
        await drive?.(run);
        await run.end();
        const dir = join(OUT, `${SET}-${name}`);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const id = run.handle.workflowId;
        const services = plan.release?.services.map((x) => x.name) ?? [];
        const ids = [id, ...Object.keys(plan.regions).flatMap((r) => [regionWorkflowId(id, r), ...services.map((x) => serviceWorkflowId(id, r, x))])];
        for (const [i, child] of ids.entries()) {
          try {
            const history = await env.client.workflow.getHandle(child).fetchHistory();
            writeFileSync(join(dir, `${i}-${i === 0 ? child.split('/').pop() : child.slice(id.length + 1).replace(/\//g, '-')}.json`), `{"workflowId":${JSON.stringify(child)},"history":${scrub(historyToJSON(history))}}`);
          } catch (err) {
            const notFound = (err as Error).name === 'WorkflowNotFoundError' || (err as { code?: number }).code === 5;
            if (!notFound) throw err;
          }
        }
        console.log(`recorded ${name}`);
      });
      await bed?.stop();
    }
  } finally {
    await Promise.all([env.teardown(), postgres.stop(), receiver.stop()]);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
