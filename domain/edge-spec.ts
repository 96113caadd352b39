import { z } from 'zod';
import { duration } from './spec-values';
import { DEFAULT_STEERING, MAX_DURATION_MS as MAX } from './spec-defaults';

/*
 * The spec's `edges` and `steering`: the global entry points in front of the regions, and how
 * Meridian moves their traffic between regions. Types live in edges.ts, which workflow code reads.
 */

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be lower-case letters, digits or "-"');
const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, like 10.0.4.7:8080');
const percent = z.number().int().min(0).max(100);

export const edgeRoute = z.strictObject({
  region: z.string().min(1),
  /** Percent of the edge's traffic the region normally takes; an edge's shares add up to 100. */
  share: percent,
  /** The region's stable ingress as the edge reaches it. */
  address: hostPort,
  /** The region's canary ingress, where `mirror` steps send shadow copies. */
  canaryAddress: hostPort.optional(),
});

export const envoyEdgeProvider = z.strictObject({
  type: z.literal('envoy'),
  /** Envoy's admin interface, which Meridian reads to see what the proxy serves. */
  admin: z.url({ protocol: /^https?$/, error: 'must be an http:// URL such as http://127.0.0.1:9901' }),
  /** The directory Envoy watches for its dynamic configuration; the worker writes it. */
  configDir: z.string().min(1),
});
export const EDGE_PROVIDER_TYPES = ['envoy'] as const;

export const edge = z.strictObject({
  name,
  provider: z.discriminatedUnion('type', [envoyEdgeProvider]),
  /** The residency it serves; it routes only to regions whose `residency` label matches. */
  residency: z.string().min(1),
  routes: z.array(edgeRoute).min(1),
  /** Regions of another residency this edge may route to, each with the reason it is allowed. */
  crossResidency: z.array(z.strictObject({ region: z.string().min(1), reason: z.string().min(1) })).optional(),
  /** Percent of the edge's normal traffic that must stay on healthy regions after a drain; below it Meridian holds instead. */
  minHealthyShare: percent.default(DEFAULT_STEERING.minHealthyShare),
});

export const edgePolicy = z.strictObject({
  name,
  /** A CEL expression over `edge`, `planned` and `regions` that yields true when the plan is allowed. */
  rule: z.string().min(1),
  message: z.string().min(1).optional(),
});

export const steering = z.strictObject({
  /** The share a region gets back at each step once it is healthy again, in percent of its normal share; 100 is added. */
  returnSteps: z.array(z.number().int().min(1).max(99)).default([...DEFAULT_STEERING.returnSteps]),
  /** The short analysis at each return step: the region's analysis metrics, sampled every `interval` for `sustainedFor`. */
  stepAnalysis: z
    .strictObject({
      interval: duration(MAX.sampleInterval).default(DEFAULT_STEERING.stepIntervalMs),
      sustainedFor: duration(MAX.wait).default(DEFAULT_STEERING.stepSustainedMs),
    })
    .prefault({}),
  /** How often the rollout looks for changes someone else made to its edges. */
  driftCheck: duration(MAX.wait).default(DEFAULT_STEERING.driftCheckMs),
  /** Extra rules every planned edge configuration must pass, besides the built-in ones. */
  policies: z.array(edgePolicy).default([]),
});

/** Sends `percent` of the region's stable traffic at each of its edges, as shadow copies, to its canary; then holds for `duration`. */
export const mirrorStep = z.strictObject({
  kind: z.literal('mirror'),
  percent,
  duration: duration(MAX.wait),
});
