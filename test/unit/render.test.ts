import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuditEntry, RegionStatus, RolloutStatus, ServiceStatus } from '../../domain/status';
import { auditLine, statusChanges } from '../../cli/changes';
import { plainView, redrawView, wantsRedraw } from '../../cli/live';
import { renderAuditLine, renderStatus, renderSummary, renderSustained, rollbackCauses, weightBar } from '../../cli/render';
import type { AuditData } from '../../domain/vocabulary';

const ID = 'rollout/checkout/2.4.0';
const T0 = Date.parse('2025-03-04T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function region(name: string, over: Partial<RegionStatus> = {}): RegionStatus {
  return { name, wave: 0, phase: 'Pending', weight: 0, verdicts: [], ...over };
}

function rollout(over: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    id: ID,
    service: 'checkout',
    version: '2.4.0',
    image: 'shop/checkout:2.4.0',
    baselines: {},
    phase: 'Progressing',
    failurePolicy: 'rollback-all',
    wave: { index: 1, total: 3, name: 'early' },
    regions: [],
    pendingApprovals: [],
    compensation: [],
    audit: [],
    startedAt: at(0),
    ...over,
  };
}

const lines = (text: string) => text.split('\n');

describe('weightBar', () => {
  it.each([
    [0, '[----------]   0%'],
    [25, '[###-------]  25%'],
    [50, '[#####-----]  50%'],
    [100, '[##########] 100%'],
  ])('%i%%', (weight, bar) => expect(weightBar(weight)).toBe(bar));
});

describe('renderSustained', () => {
  it('counts whole seconds and samples', () => {
    expect(renderSustained({ healthyForMs: 7_900, requiredMs: 10_000, samples: 5, minSamples: 3, failures: 0, inconclusives: 0 })).toBe(
      'healthy 7s of 10s (5 samples)',
    );
  });
  it('shows missing samples and failures', () => {
    expect(renderSustained({ healthyForMs: 2_000, requiredMs: 60_000, samples: 2, minSamples: 3, failures: 1, inconclusives: 0 })).toBe(
      'healthy 2s of 1m (2 of 3 samples, 1 failed)',
    );
  });
});

describe('renderStatus', () => {
  it('shows a progressing rollout with sustained progress and the latest failing verdict', () => {
    const status = rollout({
      regions: [
        region('eu-west-1', { phase: 'Promoted', weight: 100 }),
        region('us-east-1', {
          wave: 1,
          phase: 'Progressing',
          weight: 25,
          step: { index: 3, total: 6, kind: 'analysis', description: 'analysis of error_rate for 10s' },
          sustained: { healthyForMs: 7_000, requiredMs: 10_000, samples: 5, minSamples: 3, failures: 1, inconclusives: 0 },
          verdicts: [
            { phase: 'Successful', metric: 'latency_p99_ms', value: 180, threshold: { max: 400 }, reason: 'latency_p99_ms 180 <= max 400' },
            { phase: 'Failed', metric: 'error_rate', value: 0.08, threshold: { max: 0.02 }, reason: 'error_rate 0.08 > max 0.02' },
          ],
        }),
        region('ap-south-1', { wave: 2 }),
      ],
    });
    const out = lines(renderStatus(status, T0 + 42_000));
    expect(out[0]).toBe(`${ID}  Progressing  wave 2/3 early`);
    expect(out).toContain('  policy rollback-all, running for 42s');
    expect(out).toContain('  eu-west-1   Promoted          [##########] 100%');
    expect(out).toContain(
      '  us-east-1   Progressing       [###-------]  25%  step 4/6 analysis  healthy 7s of 10s (5 samples, 1 failed)',
    );
    expect(out).toContain('              failed: error_rate 0.08 > max 0.02');
    expect(out).toContain('  ap-south-1  Pending           [----------]   0%');
    expect(out.some((l) => l.startsWith('Reason:'))).toBe(false);
  });

  it("shows each region's flags with their variant and fraction", () => {
    const status = rollout({ regions: [region('eu-west-1', { phase: 'Progressing', weight: 0, flags: { 'checkout-new-path': { variant: 'on', fraction: 10 } } })] });
    expect(lines(renderStatus(status, T0 + 10_000))).toContain('             flag checkout-new-path: on for 10% of users');
  });

  it("shows each edge's shares against its normal ones, what is drained and mirrored, and drift", () => {
    const status = rollout({
      edges: [
        { name: 'eu', residency: 'eu', shares: { 'eu-west-1': 0, 'eu-central-1': 100 }, normal: { 'eu-west-1': 50, 'eu-central-1': 50 }, mirrors: {}, drained: ['eu-west-1'], version: 'k/3' },
        { name: 'us', residency: 'us', shares: { 'us-east-1': 50, 'us-west-2': 50 }, normal: { 'us-east-1': 50, 'us-west-2': 50 }, mirrors: { 'us-east-1': 20 }, drained: [], version: 'k/4', drift: ['rds-edge.json: us-east-1 has share 70, Meridian left 50'] },
      ],
    });
    const out = lines(renderStatus(status, T0 + 10_000));
    const i = out.indexOf("Edges (share of each edge's traffic):");
    expect(out.slice(i + 1, i + 4)).toEqual([
      '  eu (eu)  eu-west-1 0% (normally 50%, drained)  eu-central-1 100% (normally 50%)',
      '  us (us)  us-east-1 50% (mirrors 20% to its canary)  us-west-2 50%',
      '    changed outside Meridian: rds-edge.json: us-east-1 has share 70, Meridian left 50; resume accepts it, abort restores the edge',
    ]);
  });

  it('lists pending approvals with the command that approves them', () => {
    const status = rollout({
      phase: 'AwaitingApproval',
      regions: [region('eu-west-1', { phase: 'AwaitingApproval', weight: 10, step: { index: 1, total: 4, kind: 'approval', description: 'approval' } })],
      pendingApprovals: [{ region: 'eu-west-1', gate: 'go-live', since: at(5), timeoutAt: at(3605), approvers: ['alice'] }],
    });
    const out = lines(renderStatus(status, T0 + 10_000));
    const i = out.indexOf('Waiting for approval:');
    expect(i).toBeGreaterThan(0);
    expect(out[i + 1]).toBe('  eu-west-1 gate "go-live" since 10:00:05Z, times out at 11:00:05Z, approvers: alice');
    expect(out[i + 2]).toBe(`    meridian approve ${ID} --region eu-west-1 --gate go-live --by <you>`);
  });

  it('shows a signed gate of two approvers, who approved so far, and the signing command', () => {
    const status = rollout({
      phase: 'AwaitingApproval',
      regions: [region('eu-west-1', { phase: 'AwaitingApproval', weight: 10 })],
      pendingApprovals: [{ region: 'eu-west-1', gate: 'prod', since: at(5), groups: ['sre'], approvals: 2, approvedBy: ['alice'], signed: true }],
    });
    const out = lines(renderStatus(status, T0 + 10_000));
    const i = out.indexOf('Waiting for approval:');
    expect(out[i + 1]).toBe('  eu-west-1 gate "prod" since 10:00:05Z, approvers: group sre, 1 of 2 approvals (alice), signed');
    expect(out[i + 2]).toBe(`    meridian approve ${ID} --region eu-west-1 --gate prod --by <you> --sign-with ~/.ssh/id_ed25519`);
  });

  it('shows the reason and the duration once ended', () => {
    const status = rollout({ phase: 'RolledBack', reason: 'us-east-1 failed analysis at 25%', endedAt: at(75) });
    const out = lines(renderStatus(status, T0 + 999_000));
    expect(out).toContain('  policy rollback-all, took 1m15s');
    expect(out.at(-1)).toBe('Reason: us-east-1 failed analysis at 25%');
  });
});

/** An audit entry of `action` with the data that action carries. */
function entry<A extends keyof AuditData>(action: A, data: AuditData[A], over: Partial<AuditEntry> = {}): AuditEntry {
  return { at: at(30), actor: 'meridian', action, reason: `${action} happened`, data: { ...data }, ...over };
}

const failed = entry(
  'analysis-failed',
  {
    weight: 25,
    values: { error_rate: 0.08, latency_p99_ms: 180.123456 },
    verdicts: [{ phase: 'Failed', metric: 'error_rate', value: 0.08, threshold: { max: 0.02 }, reason: 'error_rate 0.08 > max 0.02' }],
    metric: 'error_rate',
    value: 0.08,
    threshold: { max: 0.02 },
  },
  { region: 'us-east-1', reason: 'us-east-1 failed analysis at 25%: error_rate 0.08 > max 0.02' },
);

describe('renderAuditLine', () => {
  it('prints time, region, action, reason and metric values', () => {
    expect(renderAuditLine(failed)).toBe(
      '10:00:30Z us-east-1 analysis-failed: us-east-1 failed analysis at 25%: error_rate 0.08 > max 0.02 [error_rate=0.08, latency_p99_ms=180.1]',
    );
  });
  it('names a human actor', () => {
    expect(renderAuditLine({ at: at(1), actor: 'alice', action: 'abort', reason: 'bad release' })).toBe('10:00:01Z abort: bad release (by alice)');
  });
});

describe('renderSummary', () => {
  const rolledBack = rollout({
    phase: 'RolledBack',
    reason: 'rolled back after us-east-1 failed analysis at 25%',
    endedAt: at(40),
    regions: [
      region('eu-west-1', { phase: 'RolledBack' }),
      region('us-east-1', { phase: 'RolledBack' }),
      region('ap-south-1', { phase: 'Cancelled' }),
    ],
    audit: [
      { at: at(1), actor: 'alice', action: 'started', reason: 'rolling out' },
      failed,
      entry('region-failed', { failure: 'AnalysisFailed' }, { at: at(31), region: 'us-east-1', reason: failed.reason }),
      { at: at(32), actor: 'meridian', action: 'rollback', reason: 'rolling back us-east-1, eu-west-1' },
    ],
    compensation: [
      {
        undo: { kind: 'restoreWorkload', region: 'us-east-1', key: 'k', snapshot: { image: 'a', config: {}, weight: 0, capturedAt: at(0) } },
        wave: 1,
        outcome: 'failed',
        attempts: 3,
        error: 'simulated fault',
      },
    ],
  });

  it('says which regions were promoted and rolled back, and why, once per cause', () => {
    const out = lines(renderSummary(rolledBack));
    expect(out[0]).toBe(`${ID} ended RolledBack: rolled back after us-east-1 failed analysis at 25%`);
    expect(out).toContain('  promoted:        none');
    expect(out).toContain('  rolled back:     eu-west-1, us-east-1');
    expect(out).toContain('  not changed:     ap-south-1');
    const why = out.indexOf('Why:');
    expect(out[why + 1]).toBe(`  ${renderAuditLine(failed)}`);
    expect(out[why + 2]).toBe('');
    expect(out).toContain('  us-east-1 restoreWorkload after 3 attempts: simulated fault');
  });

  it('has no "Why" when nothing went wrong', () => {
    const ok = rollout({ phase: 'Succeeded', regions: [region('eu-west-1', { phase: 'Promoted', weight: 100 })] });
    expect(renderSummary(ok)).toBe(`${ID} ended Succeeded\n  promoted:        eu-west-1\n  rolled back:     none`);
  });
});

describe('rollbackCauses', () => {
  const timeout = (onTimeout: 'proceed' | 'abort', region: string, reason: string) =>
    entry('approval-timeout', { gate: 'go-live', timeoutMs: 3_600_000, onTimeout }, { region, reason });

  it('counts an approval timeout as a cause only when the gate aborted, whatever its reason says', () => {
    const causes = rollbackCauses(
      rollout({
        audit: [
          timeout('proceed', 'eu-west-1', 'gate "go-live" timed out after 1h; aborting would have been the default'),
          timeout('abort', 'us-east-1', 'gate "go-live" timed out after 1h; proceeding was not configured'),
        ],
      }),
    );
    expect(causes.map((e) => [e.action, e.region, e.data?.onTimeout])).toEqual([['approval-timeout', 'us-east-1', 'abort']]);
  });

  it('keeps each stopping action and drops what only records progress', () => {
    const causes = rollbackCauses(
      rollout({
        audit: [
          entry('set-weight', { weight: 25 }, { region: 'us-east-1' }),
          entry('approved', { gate: 'go-live', approver: 'alice' }, { region: 'us-east-1', actor: 'alice' }),
          failed,
          entry('abort', { reason: 'customer reports' }, { actor: 'oncall', reason: 'customer reports' }),
          entry('undo-failed', { undo: 'restoreTraffic', attempts: 3, error: 'simulated fault' }, { region: 'eu-west-1' }),
        ],
      }),
    );
    expect(causes.map((e) => e.action)).toEqual(['analysis-failed', 'abort', 'undo-failed']);
    expect(causes[0]!.data).toMatchObject({ metric: 'error_rate', value: 0.08, threshold: { max: 0.02 } });
  });
});

describe('statusChanges (plain live mode)', () => {
  const base = rollout({ regions: [region('eu-west-1', { phase: 'Progressing', weight: 10 }), region('us-east-1')] });
  const texts = (lines: { at: number; text: string }[]) => lines.map((l) => [l.at, l.text]);

  it('gives everything the first time, then only what changed, status at the poll and audit entries at their own time', () => {
    expect(texts(statusChanges(undefined, base, T0))).toEqual([
      [T0, `${ID} Progressing wave 2/3 early`],
      [T0, 'eu-west-1 Progressing 10%'],
      [T0, 'us-east-1 Pending 0%'],
    ]);
    const next = rollout({
      regions: [
        region('eu-west-1', { phase: 'Progressing', weight: 25, step: { index: 2, total: 6, kind: 'setWeight', description: '' } }),
        region('us-east-1'),
      ],
      audit: [failed],
    });
    const changes = statusChanges(base, next, T0 + 35_000);
    expect(texts(changes)).toEqual([
      [T0 + 35_000, 'eu-west-1 Progressing 25% step 3/6 setWeight'],
      [Date.parse(failed.at), renderAuditLine(failed).slice('10:00:30Z '.length)],
    ]);
    expect(changes[1]!.key).toBe(auditLine(failed).key);
    expect(statusChanges(next, structuredClone(next), T0 + 36_000)).toEqual([]);
  });
});

describe('a release region, in the status view and the plain live view', () => {
  const texts = (lines: { at: number; text: string }[]) => lines.map((l) => [l.at, l.text]);
  const svc = (service: string, over: Partial<ServiceStatus> = {}): ServiceStatus => ({ ...region('eu-west-1'), service, version: '2.0.0', ...over });
  const withServices = (services: ServiceStatus[]) => rollout({ regions: [region('eu-west-1', { phase: 'Progressing', weight: 10, services })] });
  const waiting = withServices([svc('orders', { phase: 'Progressing', weight: 10 }), svc('checkout', { waitsFor: [{ service: 'orders', until: 'promoted' }] })]);

  it('shows a row per service with its weight and what it waits for', () => {
    const lines = renderStatus(waiting, T0).split('\n');
    const at = lines.findIndex((l) => l.includes('· orders 2.0.0'));
    expect(lines[at]).toMatch(/^ +· orders 2\.0\.0 +Progressing +\S+ +10%$/);
    expect(lines[at + 1]).toMatch(/^ +· checkout 2\.0\.0 +Pending +\S+ +0%$/);
    expect(lines[at + 2]!.trim()).toBe('waits for orders to be promoted');
  });

  it('prints a line when a service moves or stops waiting, and nothing when it did not', () => {
    expect(texts(statusChanges(undefined, waiting, T0)).filter(([, t]) => String(t).startsWith('eu-west-1 '))).toEqual([
      [T0, 'eu-west-1 Progressing 10%'],
      [T0, 'eu-west-1 orders Progressing 10%'],
      [T0, 'eu-west-1 checkout Pending 0% · waits for orders to be promoted'],
    ]);
    const started = withServices([svc('orders', { phase: 'Promoted', weight: 100 }), svc('checkout', { phase: 'Progressing', weight: 10 })]);
    expect(texts(statusChanges(waiting, started, T0 + 1000))).toEqual([
      [T0 + 1000, 'eu-west-1 orders Promoted 100%'],
      [T0 + 1000, 'eu-west-1 checkout Progressing 10%'],
    ]);
    expect(statusChanges(started, structuredClone(started), T0 + 2000)).toEqual([]);
  });
});

describe('live views', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, out: { isTTY, write: (t: string) => chunks.push(t) } };
  };

  it('redraws only on a terminal outside CI', () => {
    expect(wantsRedraw({ isTTY: true, write: () => 0 }, {})).toBe(true);
    expect(wantsRedraw({ isTTY: true, write: () => 0 }, { CI: 'true' })).toBe(false);
    expect(wantsRedraw({ isTTY: false, write: () => 0 }, {})).toBe(false);
  });

  it('moves the cursor back over the previous frame and throttles', () => {
    let now = T0;
    const { chunks, out } = sink(true);
    const view = redrawView(out, 1000, () => now);
    view.update(rollout());
    const frame = chunks[0]!;
    const height = frame.split('\n').length - 1;
    expect(frame.startsWith('\r\x1b[0J')).toBe(true);
    now += 10;
    view.update(rollout({ phase: 'Paused' }));
    expect(chunks).toHaveLength(1);
    view.finish();
    expect(chunks).toHaveLength(2);
    expect(chunks[1]!.startsWith(`\x1b[${height}F\x1b[0J${ID}  Paused`)).toBe(true);
    view.finish();
    expect(chunks).toHaveLength(2);
  });

  it('cuts lines to the terminal width, and not at all when the width is unknown', () => {
    const narrow = { chunks: [] as string[], columns: 20, isTTY: true, write(t: string) { this.chunks.push(t); } };
    redrawView(narrow, 0, () => T0).update(rollout());
    expect(narrow.chunks[0]!.split('\n')[0]).toBe(`\r\x1b[0J${ID.slice(0, 19)}`);
    const unknown = { chunks: [] as string[], columns: 0, isTTY: true, write(t: string) { this.chunks.push(t); } };
    redrawView(unknown, 0, () => T0).update(rollout());
    expect(unknown.chunks[0]!.split('\n')[0]).toBe(`\r\x1b[0J${ID}  Progressing  wave 2/3 early`);
  });

  it('prints plain change lines', () => {
    const { chunks, out } = sink(false);
    const view = plainView(out, () => T0, 0);
    view.update(rollout());
    view.update(rollout());
    view.update(rollout({ phase: 'Succeeded' }));
    expect(chunks).toEqual([`10:00:00Z ${ID} Progressing wave 2/3 early\n`, `10:00:00Z ${ID} Succeeded wave 2/3 early\n`]);
  });

  describe('plain lines in time order', () => {
    afterEach(() => void vi.useRealTimers());
    it('holds lines for the horizon, so an audit entry seen a poll after a later status line goes before it', () => {
      vi.useFakeTimers({ now: T0 + 10_000 });
      const { chunks, out } = sink(false);
      const view = plainView(out, Date.now, 2_000);
      const first = entry('set-weight', { weight: 10 }, { at: at(9), region: 'eu-west-1' });
      const second = entry('set-weight', { weight: 25 }, { at: at(9.5), region: 'eu-west-1' });
      view.update(rollout({ audit: [first] }));
      expect(chunks).toEqual([]);
      vi.advanceTimersByTime(1_000);
      expect(chunks).toEqual([`${renderAuditLine(first)}\n`]);
      view.update(rollout({ regions: [region('eu-west-1', { weight: 25 })], audit: [first, second] }));
      vi.advanceTimersByTime(1_000);
      view.finish();
      expect(chunks).toEqual([
        `${renderAuditLine(first)}\n`,
        `${renderAuditLine(second)}\n`,
        `10:00:10Z ${ID} Progressing wave 2/3 early\n`,
        '10:00:11Z eu-west-1 Pending 25%\n',
      ]);
    });

    it('prints an entry seen again only once, even after a poll that lacked it', () => {
      const { chunks, out } = sink(false);
      const view = plainView(out, () => T0 + 60_000, 0);
      const seen = entry('abort', { reason: 'bad release' }, { at: at(30), region: 'eu-west-1' });
      view.update(rollout({ audit: [seen] }));
      view.update(rollout({ audit: [] }));
      view.update(rollout({ audit: [seen] }));
      view.finish();
      expect(chunks.filter((c) => c === `${renderAuditLine(seen)}\n`)).toHaveLength(1);
    });
  });
});

describe('renderStatus baselines', () => {
  it('lists each region\'s baselines measured before any change', () => {
    const text = renderStatus(rollout({ baselines: { 'eu-west-1': { error_rate: 0.0041234, p99: 182.449 } } }), Date.parse('2026-01-01T00:00:00Z'));
    expect(text).toContain('Baselines (before any change):');
    expect(text).toMatch(/eu-west-1 +error_rate=0\.004123 {2}p99=182\.4/);
  });
});
