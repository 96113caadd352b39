import type { EdgeShares, EdgeSpec } from '../../domain/edges';

/**
 * What an edge's configuration was at one moment, as Meridian keeps it to restore and to check for
 * drift: the files of the edge's dynamic configuration, what they route, and the proxy's own view
 * of its configuration with version fields removed.
 */
export interface EdgeSnapshot {
  /** The key of the change that wrote the files (their version), or what was there before Meridian's first change. */
  version: string;
  /** Each file of the edge's dynamic configuration by name, exactly as it was. */
  files: Record<string, string>;
  /** The shares and mirrors those files encode. */
  routing: EdgeShares;
  /** A digest of the proxy's live configuration without version and update-time fields: equal digests, equal configurations. */
  live: string;
}

/** How an edge differs from what Meridian last wrote; empty `differences` means no drift. */
export interface EdgeDrift {
  drifted: boolean;
  /** Short lines, one per difference: which file or live resource, and what changed. */
  differences: string[];
}

/** Upstream request counts of one region behind an edge, read from the proxy. */
export interface RegionStats {
  /** Requests the edge sent to the region. */
  requests: number;
  /** Requests that reached the region's stable ingress, and their answers by class. */
  stable: { requests: number; '2xx': number; '5xx': number };
  /** Mirrored copies sent to the region's canary ingress; absent when the region has none. */
  mirror?: { requests: number; '2xx': number; '5xx': number };
}

export interface EdgeStats {
  regions: Record<string, RegionStats>;
}

/**
 * What Meridian does to an edge proxy; one implementation per `provider.type`. `apply` and
 * `restore` return once the proxy serves the new configuration, and are idempotent by `key`.
 */
export interface EdgeDriver {
  kind: EdgeSpec['provider']['type'];
  snapshot(edge: EdgeSpec): Promise<EdgeSnapshot>;
  /** Routes `routing.shares` of the edge's traffic to each region and mirrors `routing.mirrors` of a region's traffic to its canary; returns what it left. */
  apply(edge: EdgeSpec, routing: EdgeShares, key: string): Promise<EdgeSnapshot>;
  /** Whether a change under `key` has written anything yet: a retry of it then finishes it instead of seeing someone else's change. */
  started(edge: EdgeSpec, key: string): Promise<boolean>;
  /** Puts back exactly the snapshot's files; afterwards the live configuration equals the snapshot's. */
  restore(edge: EdgeSpec, snapshot: EdgeSnapshot, key: string): Promise<void>;
  /** How the edge's files and live configuration differ from `expected`, what Meridian last left. */
  drift(edge: EdgeSpec, expected: EdgeSnapshot): Promise<EdgeDrift>;
  stats(edge: EdgeSpec): Promise<EdgeStats>;
}
