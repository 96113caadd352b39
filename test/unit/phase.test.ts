import { describe, expect, it } from 'vitest';
import { derivePhase, type PhaseInputs } from '../../domain/phase';
import type { RegionStatus } from '../../domain/status';

const region = (phase: RegionStatus['phase']): RegionStatus => ({ name: 'r', wave: 0, phase, weight: 0, verdicts: [] });
const base: PhaseInputs = { started: true, compensating: false, needsAttention: false, paused: false, regions: [region('Progressing')], pendingApprovals: [] };
const approval = { region: 'r', gate: 'g', since: 't' };

describe('derivePhase', () => {
  it.each<[string, Partial<PhaseInputs>, string]>([
    ['before preflight', { started: false }, 'Pending'],
    ['running', {}, 'Progressing'],
    ['an approval waits', { pendingApprovals: [approval] }, 'AwaitingApproval'],
    ['operator pause beats a waiting approval', { paused: true, pendingApprovals: [approval] }, 'Paused'],
    ['a held region pauses the rollout', { regions: [region('Paused')] }, 'Paused'],
    ['an inconclusive analysis pauses the rollout', { regions: [region('Inconclusive')] }, 'Paused'],
    ['compensation beats pause', { compensating: true, paused: true }, 'RollingBack'],
    ['a failed undo needs a human', { compensating: true, needsAttention: true }, 'NeedsAttention'],
    ['an end is final', { ended: 'RolledBack', compensating: true, needsAttention: true }, 'RolledBack'],
  ])('%s', (_, patch, want) => {
    expect(derivePhase({ ...base, ...patch })).toBe(want);
  });
});
