import { isIP } from 'node:net';
import { join } from 'node:path';
import type { EdgeShares, EdgeSpec } from '../../domain/edges';

/**
 * The Envoy resources of one edge, two tiers inside one Envoy, each resource file a discovery
 * response Envoy watches:
 *
 *   listener `edge` (static, in the bootstrap) ─ route config `edge` (rds-edge.json):
 *     weighted clusters `region-<r>` by share
 *   cluster `region-<r>` ─► internal listener `region-<r>` (lds.json) ─ route config `region-<r>`
 *     (rds-region-<r>.json): cluster `stable-<r>`, mirroring a fraction to cluster `canary-<r>`
 *   clusters (cds.json): `region-<r>`, `stable-<r>` at `address`, `canary-<r>` at `canaryAddress`
 *
 * A mirror policy on a route copies every request the route takes, so the second tier is what lets
 * a mirror apply to one region's share only. Every file's `version_info` is the key of the change
 * that wrote it; route configs also carry the key in their route's metadata, so a new key always
 * changes their content and Envoy reports the new version (it ignores a route config whose content
 * is unchanged).
 */

export const CDS_FILE = 'cds.json';
export const LDS_FILE = 'lds.json';
export const EDGE_ROUTE = 'edge';
export const routeFile = (name: string) => `rds-${name}.json`;
export const regionCluster = (region: string) => `region-${region}`;
export const stableCluster = (region: string) => `stable-${region}`;
export const canaryCluster = (region: string) => `canary-${region}`;
/** The metadata namespace Meridian's key is kept under in route metadata. */
export const METADATA_NAMESPACE = 'meridian';
/** The version of the files the bootstrap writes, before any change of Meridian's. */
export const INITIAL_VERSION = 'initial';

const TYPE = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  internalListener: 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener',
};

type Json = Record<string, unknown>;

/** Every resource file of the edge, by name. */
export function resourceFiles(edge: EdgeSpec): string[] {
  return [CDS_FILE, LDS_FILE, routeFile(EDGE_ROUTE), ...edge.routes.map((r) => routeFile(regionCluster(r.region)))];
}

/** Problems with routing for this edge: unknown regions, shares or mirrors out of range, a mirror without a canary. */
export function routingProblems(edge: EdgeSpec, routing: EdgeShares): string[] {
  const byRegion = new Map(edge.routes.map((r) => [r.region, r]));
  const problems: string[] = [];
  const percent = (what: string, region: string, value: number) => {
    if (!byRegion.has(region)) problems.push(`${what} for region "${region}", which edge "${edge.name}" does not route to`);
    else if (!(Number.isFinite(value) && value >= 0 && value <= 100)) problems.push(`${what} of ${region} is ${value}, not 0..100`);
  };
  for (const [region, share] of Object.entries(routing.shares)) percent('share', region, share);
  for (const [region, mirror] of Object.entries(routing.mirrors ?? {})) {
    percent('mirror', region, mirror);
    if (mirror > 0 && byRegion.get(region) && !byRegion.get(region)!.canaryAddress) problems.push(`mirror of ${region}: the region has no canaryAddress`);
  }
  return problems;
}

/** The content of every resource file for `routing`, written with version `key`. */
export function renderFiles(edge: EdgeSpec, routing: EdgeShares, key: string): Record<string, string> {
  const configDir = edge.provider.configDir;
  const files: Record<string, string> = {
    [CDS_FILE]: render(key, edge.routes.flatMap((r) => clusters(r.region, r.address, r.canaryAddress))),
    [LDS_FILE]: render(key, edge.routes.map((r) => internalListener(regionCluster(r.region), configDir))),
    [routeFile(EDGE_ROUTE)]: render(key, [edgeRoute(edge, routing.shares, key)]),
  };
  for (const r of edge.routes) {
    const mirror = r.canaryAddress ? (routing.mirrors?.[r.region] ?? 0) : 0;
    files[routeFile(regionCluster(r.region))] = render(key, [regionRoute(r.region, mirror, key)]);
  }
  return files;
}

function render(version: string, resources: Json[]): string {
  return `${JSON.stringify({ version_info: version, resources }, null, 2)}\n`;
}

function socketAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`"${address}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * Envoy closes an idle connection to a service after 4 s, before the service does: Node's HTTP
 * server closes idle keep-alive connections after 5 s, and a connection the service closes just as
 * Envoy reuses it fails the request with a 503. A region drained for a few seconds leaves exactly
 * such idle connections behind when its share comes back.
 */
const UPSTREAM_IDLE_TIMEOUT = '4s';

function upstream(name: string, address: string): Json {
  const { host, port } = socketAddress(address);
  return {
    '@type': TYPE.cluster,
    name,
    type: isIP(host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '2s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: UPSTREAM_IDLE_TIMEOUT },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
    },
  };
}

function clusters(region: string, address: string, canaryAddress: string | undefined): Json[] {
  const tier = regionCluster(region);
  const internal: Json = {
    '@type': TYPE.cluster,
    name: tier,
    type: 'STATIC',
    connect_timeout: '2s',
    load_assignment: {
      cluster_name: tier,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: tier } } } }] }],
    },
  };
  return [internal, upstream(stableCluster(region), address), ...(canaryAddress ? [upstream(canaryCluster(region), canaryAddress)] : [])];
}

/** An HTTP connection manager whose routes come from the route config `name`'s file. */
export function httpConnectionManager(name: string, configDir: string): Json {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': TYPE.hcm,
      stat_prefix: name,
      rds: {
        route_config_name: name,
        config_source: { path_config_source: { path: join(configDir, routeFile(name)) }, resource_api_version: 'V3' },
      },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE.router } }],
    },
  };
}

function internalListener(name: string, configDir: string): Json {
  return { '@type': TYPE.listener, name, internal_listener: {}, filter_chains: [{ filters: [httpConnectionManager(name, configDir)] }] };
}

const keyMetadata = (key: string) => ({ filter_metadata: { [METADATA_NAMESPACE]: { key } } });

function routeConfig(name: string, route: Json, key: string): Json {
  return {
    '@type': TYPE.route,
    name,
    virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, metadata: keyMetadata(key), ...route }] }],
  };
}

function edgeRoute(edge: EdgeSpec, shares: Record<string, number>, key: string): Json {
  const weighted = edge.routes
    // Weights in hundredths of a percent, so a share like 12.5 routes exactly.
    .map((r) => ({ name: regionCluster(r.region), weight: Math.round((shares[r.region] ?? 0) * 100) }))
    .filter((c) => c.weight > 0);
  if (weighted.length === 0) {
    return routeConfig(EDGE_ROUTE, { direct_response: { status: 503, body: { inline_string: 'no region of this edge takes traffic\n' } } }, key);
  }
  return routeConfig(EDGE_ROUTE, { route: { weighted_clusters: { clusters: weighted } } }, key);
}

function regionRoute(region: string, mirror: number, key: string): Json {
  const route: Json = { cluster: stableCluster(region) };
  if (mirror > 0) {
    route.request_mirror_policies = [
      { cluster: canaryCluster(region), runtime_fraction: { default_value: { numerator: Math.round(mirror * 10_000), denominator: 'MILLION' } } },
    ];
  }
  return routeConfig(regionCluster(region), { route }, key);
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** The version of a resource file, undefined when it is not a discovery response. */
export function fileVersion(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const v = (JSON.parse(text) as { version_info?: unknown }).version_info;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function firstRoute(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  const parsed = JSON.parse(text) as { resources?: { virtual_hosts?: { routes?: Json[] }[] }[] };
  return parsed.resources?.[0]?.virtual_hosts?.[0]?.routes?.[0];
}

/** The shares and mirrors the route files encode; a region the edge route leaves out has share 0. */
export function readRouting(edge: EdgeSpec, files: Record<string, string>): EdgeShares {
  const shares: Record<string, number> = Object.fromEntries(edge.routes.map((r) => [r.region, 0]));
  const edgeRouteJson = firstRoute(files[routeFile(EDGE_ROUTE)])?.route as { weighted_clusters?: { clusters?: { name: string; weight: number }[] } } | undefined;
  const weighted = edgeRouteJson?.weighted_clusters?.clusters ?? [];
  const total = weighted.reduce((sum, c) => sum + c.weight, 0);
  for (const r of edge.routes) {
    const weight = weighted.find((c) => c.name === regionCluster(r.region))?.weight ?? 0;
    shares[r.region] = total > 0 ? Math.round((weight / total) * 100 * 100) / 100 : 0;
  }
  const mirrors: Record<string, number> = {};
  for (const r of edge.routes) {
    const route = firstRoute(files[routeFile(regionCluster(r.region))])?.route as
      | { request_mirror_policies?: { cluster: string; runtime_fraction?: { default_value?: { numerator?: number; denominator?: string } } }[] }
      | undefined;
    const policy = route?.request_mirror_policies?.find((p) => p.cluster === canaryCluster(r.region));
    if (!policy) continue;
    const fraction = policy.runtime_fraction?.default_value;
    mirrors[r.region] = fraction ? ((fraction.numerator ?? 0) / DENOMINATORS[fraction.denominator ?? 'HUNDRED']!) * 100 : 100;
  }
  return { shares, mirrors };
}

export interface BootstrapOptions {
  /** The port the edge's listener takes traffic on. */
  listenerPort: number;
  /** The address it binds; 127.0.0.1 unless given. */
  listenerAddress?: string;
}

/**
 * The Envoy bootstrap of an edge: admin where `edge.provider.admin` says, the internal-listener
 * extension, the edge listener, and clusters and internal listeners from the files in `configDir`.
 */
export function bootstrapConfig(edge: EdgeSpec, options: BootstrapOptions): Json {
  const admin = new URL(edge.provider.admin);
  if (!admin.port) throw new Error(`edge "${edge.name}": admin ${edge.provider.admin} names no port`);
  const configDir = edge.provider.configDir;
  const fileSource = (file: string) => ({ path_config_source: { path: join(configDir, file) }, resource_api_version: 'V3' });
  return {
    node: { id: edge.name, cluster: 'meridian-edge' },
    admin: { address: { socket_address: { address: admin.hostname.replace(/^\[|\]$/g, ''), port_value: Number(admin.port) } } },
    bootstrap_extensions: [{ name: 'envoy.bootstrap.internal_listener', typed_config: { '@type': TYPE.internalListener } }],
    dynamic_resources: { cds_config: fileSource(CDS_FILE), lds_config: fileSource(LDS_FILE) },
    static_resources: {
      listeners: [
        {
          name: EDGE_ROUTE,
          address: { socket_address: { address: options.listenerAddress ?? '127.0.0.1', port_value: options.listenerPort } },
          filter_chains: [{ filters: [httpConnectionManager(EDGE_ROUTE, configDir)] }],
        },
      ],
    },
  };
}
