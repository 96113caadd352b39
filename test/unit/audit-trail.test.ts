import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { describe, expect, it } from 'vitest';
import { auditTrailFromHistory, trailEntries, type AuditTrail } from '../../client/audit-trail';
import { csvField, renderAudit } from '../../cli/render-audit';
import type { AuditAction } from '../../domain/vocabulary';

const DIR = join(import.meta.dirname, '..', 'histories');
const converter = loadDataConverter();

/** The rollout workflow's own saved history of a scenario (the file that starts with 0-). */
function rolloutHistory(scenario: string) {
  const file = readdirSync(join(DIR, scenario)).find((f) => f.startsWith('0-'))!;
  const saved = JSON.parse(readFileSync(join(DIR, scenario, file), 'utf8')) as { workflowId: string; history: unknown };
  return { id: saved.workflowId, events: historyFromJSON(saved.history).events ?? [] };
}

/** What region stages record; the rollout learns these from their reports and outcomes. */
const STAGE_ACTIONS = new Set<AuditAction>(['snapshot', 'deploy-canary', 'set-weight', 'approved', 'analysis-passed', 'analysis-failed', 'promoted', 'window-wait', 'health-clear']);
const key = (e: { at: string; action: string; region?: string }) => `${e.at} ${e.action} ${e.region ?? '-'}`;

describe('the audit trail from a saved history alone', () => {
  it("reads a completed rollout's whole trail from its result, oldest first, with each analysis's verdicts as evidence", async () => {
    const { id, events } = rolloutHistory('v4-approval');
    const trail = await auditTrailFromHistory(id, events, converter);
    expect(trail).toMatchObject({ id, source: 'history', from: 'result', complete: true, phase: 'Succeeded', execution: 'COMPLETED' });
    const times = trail.entries.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(trail.entries.filter((e) => e.action === 'approve')).toEqual([expect.objectContaining({ actor: 'alice', region: 'eu-west-1', data: expect.objectContaining({ gate: expect.any(String) }) })]);
    const passed = trail.entries.filter((e) => e.action === 'analysis-passed');
    expect(passed.length).toBeGreaterThan(0);
    for (const e of passed) expect(e.evidence).toEqual([expect.objectContaining({ metric: 'error_rate', verdict: 'Successful', threshold: { max: 0.02 }, value: expect.any(Number) })]);
    expect(trail.entries.at(-1)).toMatchObject({ action: 'succeeded' });
    expect(trail.regions.map((r) => r.phase)).toEqual(['Promoted', 'Promoted', 'Promoted', 'Promoted', 'Promoted']);
  });

  it('reads a rolled-back rollout from the details of the failure it ended with', async () => {
    const { id, events } = rolloutHistory('v4-breach-rollback-all');
    const trail = await auditTrailFromHistory(id, events, converter);
    expect(trail).toMatchObject({ from: 'failure', complete: true, phase: 'RolledBack', execution: 'FAILED' });
    const failed = trail.entries.find((e) => e.action === 'analysis-failed')!;
    expect(failed).toMatchObject({ region: 'us-east-1', data: { metric: 'error_rate' } });
    expect(failed.evidence).toContainEqual(expect.objectContaining({ metric: 'error_rate', verdict: 'Failed', threshold: { max: 0.02 } }));
  });

  it('pieces a trail together from the events when the history holds no final status', async () => {
    const { id, events } = rolloutHistory('v4-approval');
    const full = await auditTrailFromHistory(id, events, converter);
    const cut = events.slice(0, events.findIndex((e) => e.workflowExecutionCompletedEventAttributes));
    const pieces = await auditTrailFromHistory(id, cut, converter);
    expect(pieces).toMatchObject({ id, source: 'history', from: 'events', complete: false, execution: 'RUNNING' });
    expect(pieces.entries[0]).toMatchObject({ action: 'started', actor: 'test' });
    expect(pieces.entries.filter((e) => e.action === 'approve')).toEqual([expect.objectContaining({ actor: 'alice', region: 'eu-west-1', data: { approver: 'alice' } })]);
    // Every entry a region stage recorded is there, with its evidence, in the same order.
    const stage = full.entries.filter((e) => STAGE_ACTIONS.has(e.action));
    expect(stage.length).toBeGreaterThan(10);
    expect(pieces.entries.filter((e) => STAGE_ACTIONS.has(e.action)).map(key)).toEqual(stage.map(key));
    expect(pieces.entries.find((e) => e.action === 'analysis-passed')!.evidence).toEqual(full.entries.find((e) => e.action === 'analysis-passed')!.evidence);
    expect(pieces.regions.map((r) => [r.name, r.phase])).toEqual(full.regions.map((r) => [r.name, r.phase]));
  });
});

describe('rendering the trail', () => {
  const trail: AuditTrail = {
    id: 'rollout/cart/1.0.0',
    source: 'history',
    from: 'result',
    complete: true,
    phase: 'Succeeded',
    execution: 'COMPLETED',
    regions: [],
    entries: trailEntries([
      { at: '2026-01-01T00:00:02.000Z', actor: 'alice', action: 'approve', region: 'eu-west-1', reason: 'ok, "really"\nsecond line', data: { gate: 'go', signature: { fingerprint: 'SHA256:abc', key: 'ssh-ed25519 AAAA' } } },
      { at: '2026-01-01T00:00:01.000Z', actor: 'meridian', action: 'set-weight', region: 'eu-west-1', reason: 'weight 20', data: { weight: 20 } },
      { at: '2026-01-01T00:00:02.000Z', actor: 'meridian', action: 'approved', region: 'eu-west-1', reason: ' padded ', data: { gate: 'go', approver: 'alice' } },
    ]),
  };

  it('orders entries by time, keeping the order of entries with the same time', () => {
    expect(trail.entries.map((e) => e.action)).toEqual(['set-weight', 'approve', 'approved']);
  });

  it('quotes csv fields as RFC 4180 says', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(' edge')).toBe('" edge"');
    const lines = renderAudit(trail, 'csv').split('\n');
    expect(lines[0]).toBe('at,actor,action,region,service,reason,data,evidence');
    expect(lines[2]).toBe('2026-01-01T00:00:02.000Z,alice,approve,eu-west-1,,"ok, ""really""');
  });

  it('writes one JSON object per entry with every column, and one text line per entry that names a signature', () => {
    const rows = renderAudit(trail, 'jsonl').split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => Object.keys(r))).toEqual(Array(3).fill(['at', 'actor', 'action', 'region', 'service', 'reason', 'data', 'evidence']));
    expect(rows[0]).toMatchObject({ service: null, data: { weight: 20 }, evidence: [] });
    const text = renderAudit(trail, 'text').split('\n');
    expect(text[0]).toMatch(/^# rollout\/cart\/1\.0\.0 Succeeded: 3 entries/);
    expect(text.find((l) => l.includes(' approve '))).toMatch(/signed SHA256:abc$/);
  });
});
