import { z } from 'zod';
import { checkMetricKind, compareSettings, METRIC_KINDS, threshold } from './judge/metric-schema';
import { duration, PLACEHOLDER, QUERY_VARIABLES } from './spec-values';
import {
  CLOCK,
  DEFAULT_ALARM_BLOCKER,
  DEFAULT_ANALYSIS_INTERVAL_MS,
  DEFAULT_MIN_SAMPLES,
  MAX_DURATION_MS as MAX,
  SERVICE_NAME,
  VERSION_TAG,
  WEEKDAYS,
} from './spec-defaults';
import { IDENTITY_FORMS } from './identity';
import { DEPENDENCY_POINTS } from './release-graph';
import { databaseName, databaseSettings, migration, reconciliation, sqlProvider } from './stateful';
import { edge, mirrorStep, steering } from './edge-spec';
import { flag, FLAG_FAILURE_MODES, flagProvider, flagStep, regionFlags } from './flag-spec';
import { notifications } from './notification-spec';

export { duration, PLACEHOLDER, QUERY_VARIABLES };

const name = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be lower-case letters, digits, "-" or "."');
/** The service and version name the rollout's workflow id, `rollout/<service>/<version>`, and its search attributes. */
export const serviceName = z.string().min(1, { abort: true }).regex(SERVICE_NAME, `must be ${IDENTITY_FORMS.service}`);
export const versionTag = z.string().min(1, { abort: true }).regex(VERSION_TAG, `must be ${IDENTITY_FORMS.version}`);

export const simulatedTarget = z.strictObject({
  kind: z.literal('simulated'),
  /** What the region runs before this rollout, when the fleet has never seen it. */
  initial: z.strictObject({ image: z.string().min(1), config: z.record(z.string(), z.string()).default({}) }).optional(),
});
const k8sName = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'must be a Kubernetes object name (lower-case letters, digits, "-", ".")');

/** `replicas`: a canary Deployment beside the stable one behind the same Service; its share of pods is the weight. */
export const replicasTraffic = z.strictObject({ strategy: z.literal('replicas') });
/** `gatewayAPI`: an HTTPRoute's backendRefs weights split traffic between the stable and the canary Service. */
export const gatewayTraffic = z.strictObject({
  strategy: z.literal('gatewayAPI'),
  httpRoute: k8sName,
  /** The Service the route sends stable traffic to. */
  stableService: k8sName,
  /** Created by Meridian for the canary's pods; defaults to `<stableService>-canary`. */
  canaryService: k8sName.optional(),
});

/**
 * A region in a Kubernetes cluster. Credentials stay in the worker's kubeconfig: the spec names a
 * context, never a secret.
 */
export const kubernetesTarget = z.strictObject({
  kind: z.literal('kubernetes'),
  context: z.string().min(1),
  /** The worker's kubeconfig file; defaults to $KUBECONFIG, then ~/.kube/config. */
  kubeconfig: z.string().min(1).optional(),
  namespace: k8sName,
  /** The stable Deployment. */
  deployment: k8sName,
  /** The container whose image changes; defaults to the pod's first container. */
  container: k8sName.optional(),
  /** This region's reference to the image, e.g. a regional registry mirror; defaults to the rollout's image. */
  image: z.string().min(1).optional(),
  /** How long a Deployment may take to become ready before the region fails with the Deployment's own reason. */
  progressDeadline: duration(MAX.progressDeadline).default(10 * 60_000),
  traffic: z.discriminatedUnion('strategy', [replicasTraffic, gatewayTraffic]).default({ strategy: 'replicas' }),
});

export const target = z.discriminatedUnion('kind', [simulatedTarget, kubernetesTarget]);
export const TARGET_KINDS = ['simulated', 'kubernetes'] as const;

const clock = z.string().regex(CLOCK, 'must be HH:MM, 24-hour');
export const deploymentWindow = z.strictObject({
  timezone: z.string().min(1),
  days: z.array(z.enum(WEEKDAYS)).min(1).default([...WEEKDAYS]),
  start: clock,
  end: clock,
});

export const setWeightStep = z.strictObject({ kind: z.literal('setWeight'), weight: z.number().int().min(0).max(100) });
export const pauseStep = z.strictObject({ kind: z.literal('pause'), duration: duration(MAX.wait) });
export const approvalStep = z.strictObject({
  kind: z.literal('approval'),
  name: name.optional(),
  timeout: duration(MAX.wait).optional(),
  onTimeout: z.enum(['abort', 'proceed']).optional(),
  /** Who may approve; absent means anyone. An empty list is accepted here so validation can say why it never ends. */
  approvers: z.array(z.string().min(1)).optional(),
  /** Members of these groups (the rollout's `approvers[].groups`) may approve too. */
  groups: z.array(z.string().min(1)).min(1).optional(),
  /** Distinct approvers the gate needs. */
  approvals: z.number().int().min(1).max(10).optional(),
  /** Only signed approvals count; by default true when the rollout names approver keys or a keyring. */
  signed: z.boolean().optional(),
  /** The person who started the rollout may approve this gate too (recorded in the audit trail when they do). */
  allowSelfApproval: z.boolean().optional(),
});

/** A person who may approve, with the SSH Ed25519 public key they sign with. */
export const approver = z.strictObject({
  name: z.string().min(1).max(128),
  key: z.string().regex(/^ssh-ed25519 [A-Za-z0-9+/]+=*( .*)?$/, 'must be an SSH Ed25519 public key: "ssh-ed25519 AAAA…", as in ~/.ssh/id_ed25519.pub').optional(),
  groups: z.array(z.string().min(1)).default([]),
});
/** A keyring file: the same list of approvers, kept beside the worker rather than in the spec. */
export const keyringFile = z.strictObject({ approvers: z.array(approver).min(1) });
export const analysisStep = z.strictObject({
  kind: z.literal('analysis'),
  metrics: z.array(z.string().min(1)).min(1),
  interval: duration(MAX.sampleInterval).default(DEFAULT_ANALYSIS_INTERVAL_MS),
  sustainedFor: duration(MAX.wait),
  /** Failed samples tolerated before the step fails (Argo Rollouts' meaning: fails when failed > limit). */
  failureLimit: z.number().int().min(0).default(0),
  /** Inconclusive samples tolerated before the region pauses for a human. */
  inconclusiveLimit: z.number().int().min(0).default(0),
  /** Consecutive provider errors tolerated before the sample counts as inconclusive. */
  consecutiveErrorLimit: z.number().int().min(0).default(4),
  /** The window only passes once this many samples were taken, so low traffic cannot pass on too little evidence. */
  minSamples: z.number().int().min(1).default(DEFAULT_MIN_SAMPLES),
});
export { flagStep, mirrorStep };
export const step = z.discriminatedUnion('kind', [setWeightStep, pauseStep, approvalStep, analysisStep, mirrorStep, flagStep]);
export const STEP_KINDS = ['setWeight', 'pause', 'approval', 'analysis', 'mirror', 'flag'] as const;

export const simulatedProvider = z.strictObject({ type: z.literal('simulated') });

const template = z.string().min(1).superRefine((text, ctx) => {
  for (const [, key] of text.matchAll(PLACEHOLDER)) {
    if (!(QUERY_VARIABLES as readonly string[]).includes(key!)) {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${key}}} (known: ${QUERY_VARIABLES.join(', ')})` });
    }
  }
});
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
/** Secrets are named, never written in the spec: the worker reads these variables from its environment. */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const bearerAuth = z.strictObject({ bearerTokenEnv: envName });
const basicAuth = z.strictObject({ basicUserEnv: envName, basicPasswordEnv: envName });
const tls = z.strictObject({ caFile: z.string().min(1).optional(), insecureSkipVerify: z.boolean().default(false) });
/** `$`, `.name`, `[0]`, `['odd name']`. */
export const JSON_PATH = /^\$(\.[A-Za-z_$][\w$-]*|\[\d+\]|\['[^']*'\]|\["[^"]*"\])*$/;

export const prometheusProvider = z.strictObject({
  type: z.literal('prometheus'),
  address: httpUrl,
  /** PromQL over the placeholders; values are escaped for PromQL string literals. */
  query: template,
  /** Query a range and reduce it to one value, instead of an instant query. */
  range: z
    .strictObject({
      window: duration(MAX.queryRange),
      step: duration(MAX.queryRange).default(15_000),
      reduce: z.enum(['avg', 'max', 'last']).default('avg'),
    })
    .optional(),
  auth: z.union([bearerAuth, basicAuth]).optional(),
  tls: tls.optional(),
  timeout: duration(MAX.query).default(10_000),
});
export const webProvider = z.strictObject({
  type: z.literal('web'),
  /** URL template; values are URL-encoded. */
  url: template.pipe(z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL')),
  jsonPath: z.string().regex(JSON_PATH, "must be a JSON path like $.data.value or $.items[0]['p99']"),
  auth: bearerAuth.optional(),
  tls: tls.optional(),
  timeout: duration(MAX.query).default(10_000),
});
/** Metric providers, keyed by `type`; the registry of implementations lives in activities/metrics. */
export const provider = z.discriminatedUnion('type', [simulatedProvider, prometheusProvider, webProvider, sqlProvider]);
export const PROVIDER_TYPES = ['simulated', 'prometheus', 'web', 'sql'] as const;

export const metric = z
  .strictObject({
    name: z.string().min(1),
    /** In a release: the service whose metric this is; `{{service}}` in its query is that service. */
    service: serviceName.optional(),
    /** `threshold` (the default when absent) judges the canary's value; `compare` tests canary against stable. */
    kind: z.enum(METRIC_KINDS).optional(),
    provider,
    /** A number, or relative to the region's baseline: `baseline * 1.2`, `baseline + 50`. */
    max: threshold.optional(),
    min: threshold.optional(),
    compare: compareSettings.optional(),
  })
  .superRefine(checkMetricKind);

const stagePolicy = {
  steps: z.array(step).optional(),
  bake: duration(MAX.wait).optional(),
};

export const region = z.strictObject({
  name,
  /** Required in a one-service spec; in a release, the default for services that name no target of their own here. */
  target: target.optional(),
  labels: z.record(z.string(), z.string()).default({}),
  windows: z.array(deploymentWindow).optional(),
  /** The database this region's migrations and reconciliations run on: a name the worker resolves, never a URL. */
  database: databaseName.optional(),
  /** This region's flag provider, and a cap on flag fractions here. */
  flags: regionFlags.optional(),
  ...stagePolicy,
});

export const wave = z.strictObject({
  name: z.string().min(1).optional(),
  regions: z.array(z.string()).min(1),
  maxParallel: z.number().int().min(1).optional(),
  ...stagePolicy,
});

export const FAILURE_POLICIES = ['rollback-all', 'rollback-region', 'pause'] as const;

export const CONTRACT_KINDS = ['protobuf', 'openapi'] as const;

/**
 * One version of a contract's files. In the spec file `files` lists paths under `root` (relative to
 * the spec file); the loader replaces the list with each file's text keyed by its path, so the plan
 * carries the reviewed text and never a path. `entry` is an OpenAPI document's root file.
 */
export const contractFiles = {
  files: z.record(z.string(), z.string()),
  entry: z.string().min(1).optional(),
};
export const providedContract = z.strictObject({
  contract: z.string().min(1),
  kind: z.enum(CONTRACT_KINDS),
  ...contractFiles,
  /** What a region runs now where Meridian has recorded no promotion of this service yet. */
  running: z.strictObject(contractFiles).optional(),
});
export const consumedContract = z.strictObject({
  contract: z.string().min(1),
  /** The version this service is built against; absent, it is taken to need nothing the provider's running version lacks. */
  ...contractFiles,
  files: contractFiles.files.optional(),
});
export const dependency = z.strictObject({
  service: serviceName,
  until: z.enum(DEPENDENCY_POINTS).default('promoted'),
});

/** One service of a release; steps, bake, targets and its stateful parts default to the release's. */
export const releaseService = z.strictObject({
  name: serviceName,
  /** Defaults to the release's version. */
  version: versionTag.optional(),
  image: z.string().min(1),
  config: z.record(z.string(), z.string()).default({}),
  /** Per region; a region without one here uses the region's own target. */
  targets: z.record(z.string(), target).default({}),
  steps: z.array(step).min(1).optional(),
  bake: duration(MAX.wait).optional(),
  /** Metrics of this service; the release's metrics name their service with `service`. */
  metrics: z.array(metric).default([]),
  migrations: z.array(migration).default([]),
  reconciliations: z.array(reconciliation).default([]),
  dependsOn: z.array(dependency).default([]),
  provides: z.array(providedContract).default([]),
  consumes: z.array(consumedContract).default([]),
});

export const rolloutSpec = z.strictObject({
  /** The service, or in a release of several services the release's name. */
  service: serviceName,
  version: versionTag,
  /** Required in a one-service spec; a release gives each service its own. */
  image: z.string().min(1).optional(),
  config: z.record(z.string(), z.string()).default({}),
  regions: z.array(region).min(1),
  waves: z.array(wave).min(1),
  steps: z.array(step).min(1),
  /** The people who may approve gates, with their public keys and groups. */
  approvers: z.array(approver).optional(),
  /** A keyring file of approvers, read by the worker at preflight (a path on the worker's machine). */
  keyring: z.string().min(1).optional(),
  bake: duration(MAX.wait).default(0),
  metrics: z.array(metric).default([]),
  failurePolicy: z.enum(FAILURE_POLICIES).default('rollback-all'),
  /** Ordered schema changes: `expand` before each region's canary, `contract` after every region is promoted and baked. */
  migrations: z.array(migration).default([]),
  database: databaseSettings.optional(),
  /** Recipes that make the rows a canary wrote right for the old version when its region rolls back. */
  reconciliations: z.array(reconciliation).default([]),
  /** A region already failing its analysis metrics before any change holds its stage this long, rechecked every `interval`, then fails. */
  alarmBlocker: z
    .strictObject({
      timeout: duration(MAX.wait).default(DEFAULT_ALARM_BLOCKER.timeoutMs),
      interval: duration(MAX.sampleInterval).default(DEFAULT_ALARM_BLOCKER.intervalMs),
    })
    .optional(),
  /** A release of several services: each rolls out in every region of the waves, in dependency order. */
  services: z.array(releaseService).min(1).optional(),
  /** Contracts the release's services consume that no service of it provides. */
  externalContracts: z.array(z.string().min(1)).default([]),
  /** Feature flags the rollout's `flag` steps change; a rollback sets each one's kill switch first. */
  flags: z.array(flag).min(1).optional(),
  /** The flag provider of every region that names none of its own. */
  flagProvider: flagProvider.optional(),
  /** `killSwitchOnly`: a failure turns the flags off and keeps the new version deployed; every flag must be `safeWhenOff`. */
  onFailure: z.enum(FLAG_FAILURE_MODES).optional(),
  /** The global entry points in front of the regions: Meridian steers their traffic away from a region that goes bad. */
  edges: z.array(edge).min(1).optional(),
  /** How edges steer: the steps back, the analysis at each, drift checks and extra policies. */
  steering: steering.optional(),
  notifications,
  simulation: z
    .strictObject({
      /** Scripted faults, one per line: `eu-west-1: error_rate 0.08 when weight >= 25`, `us-east-1: fail restore 3 times`. */
      faults: z.array(z.string()).default([]),
      /** Healthy metric values of both versions before faults apply. */
      baseline: z.record(z.string(), z.number()).default({}),
    })
    .optional(),
});

export type RolloutSpec = z.output<typeof rolloutSpec>;
export type RolloutSpecInput = z.input<typeof rolloutSpec>;
export type RegionSpec = z.output<typeof region>;
export type ReleaseServiceSpec = z.output<typeof releaseService>;
export type ProvidedContractSpec = z.output<typeof providedContract>;
export type ConsumedContractSpec = z.output<typeof consumedContract>;
export type ContractKind = (typeof CONTRACT_KINDS)[number];
export type WaveSpec = z.output<typeof wave>;
export type Target = z.output<typeof target>;
export type KubernetesTarget = z.output<typeof kubernetesTarget>;
export type GatewayTraffic = z.output<typeof gatewayTraffic>;
export type Step = z.output<typeof step>;
export type SetWeightStep = z.output<typeof setWeightStep>;
export type PauseStep = z.output<typeof pauseStep>;
export type ApprovalStep = z.output<typeof approvalStep>;
export type ApproverSpec = z.output<typeof approver>;
export type AnalysisStep = z.output<typeof analysisStep>;
export type MirrorStep = z.output<typeof mirrorStep>;
export type FlagStep = z.output<typeof flagStep>;
/** A metric as plans carry it; in a release the compiler adds the version of the service it belongs to. */
export type MetricSpec = z.output<typeof metric> & { serviceVersion?: string };
export type CompareSpec = z.output<typeof compareSettings>;
export type ProviderSpec = z.output<typeof provider>;
export type PrometheusProviderSpec = z.output<typeof prometheusProvider>;
export type WebProviderSpec = z.output<typeof webProvider>;
export type QueryVariable = (typeof QUERY_VARIABLES)[number];
export type DeploymentWindow = z.output<typeof deploymentWindow>;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];
