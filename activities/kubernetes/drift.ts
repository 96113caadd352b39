import { ApplicationFailure } from '@temporalio/common';
import { diffFields } from '../../domain/kubernetes';
import type { DriftReport } from '../../domain/status';
import { FAILURE } from '../../domain/vocabulary';
import { FIELD_MANAGER, type Obj } from './objects';

/** Who other than Meridian wrote `obj` at or after `since`, from its managedFields. */
export function writersSince(obj: Obj, since: string | undefined): DriftReport['by'] {
  const from = since ? Date.parse(since) - 1_000 : 0;
  return (obj.metadata?.managedFields ?? [])
    .filter((f: Obj) => f.manager !== FIELD_MANAGER && (!f.time || Date.parse(f.time) >= from))
    .map((f: Obj) => ({ manager: f.manager, operation: f.operation, time: f.time }));
}

/** A drift report when `current` differs from what Meridian expects, else undefined. */
export function detectDrift(object: string, expected: unknown, current: unknown, obj: Obj, since: string | undefined, prefix: string): DriftReport | undefined {
  const changes = diffFields(expected, current, prefix);
  if (changes.length === 0) return undefined;
  return { object, changes, by: writersSince(obj, since), detectedAt: new Date().toISOString() };
}

export function driftMessage(region: string, d: DriftReport): string {
  const who = d.by.length ? d.by.map((b) => `${b.manager} (${b.operation}${b.time ? ` at ${b.time}` : ''})`).join(', ') : 'an unknown writer';
  return `${region}: ${d.object} changed outside Meridian by ${who}: ${d.changes.join('; ')}. Meridian will not overwrite it: resume to accept the change and go on, or abort to roll back`;
}

export function driftFailure(region: string, d: DriftReport): ApplicationFailure {
  return ApplicationFailure.nonRetryable(driftMessage(region, d), FAILURE.drift, d);
}
