import type { RecordedContracts } from '../../domain/recorded-contracts';
import type { KubernetesTarget } from '../../domain/spec';

export const FIELD_MANAGER = 'meridian';

/** Labels and annotations that tie every object Meridian touches to its rollout and region. */
export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  role: 'meridian.dev/role',
  canaryOf: 'meridian.dev/canary-of',
  region: 'meridian.dev/region',
  /** On the recorded-contracts ConfigMap: the Deployment whose contracts it holds. */
  contractsOf: 'meridian.dev/contracts-of',
} as const;
export const ANNOTATION = {
  rollout: 'meridian.dev/rollout',
  /** On the canary: the stable Deployment's template (JSON) as Meridian last saw it; drift is any difference. */
  stableTemplate: 'meridian.dev/stable-template',
  /** On the canary: the stable Deployment's replicas before the rollout; the canary's weight is a share of these. */
  stableReplicas: 'meridian.dev/stable-replicas',
  /** On the canary: the HTTPRoute's rules (JSON) as Meridian last wrote them. */
  routeRules: 'meridian.dev/route-rules',
  weight: 'meridian.dev/weight',
  /** On the recorded-contracts ConfigMap: the key its record was written under; the same key again is a no-op. */
  contractsKey: 'meridian.dev/contracts-key',
} as const;

export type Obj = Record<string, any>;

export const paths = {
  deployment: (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
  replicaSets: (ns: string) => `/apis/apps/v1/namespaces/${ns}/replicasets`,
  pods: (ns: string) => `/api/v1/namespaces/${ns}/pods`,
  service: (ns: string, name: string) => `/api/v1/namespaces/${ns}/services/${name}`,
  route: (ns: string, name: string) => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes/${name}`,
  configMap: (ns: string, name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`,
};

export const canaryName = (t: KubernetesTarget) => `${t.deployment}-canary`;
export const canaryServiceName = (t: KubernetesTarget) =>
  t.traffic.strategy === 'gatewayAPI' ? (t.traffic.canaryService ?? `${t.traffic.stableService}-canary`) : undefined;

/** The ConfigMap that holds what the last promotion of the target's Deployment recorded. */
export const contractsConfigMapName = (t: KubernetesTarget) => `${t.deployment}-meridian-contracts`;
/** Its one data key: the record as JSON (ConfigMap keys allow no `/`, so the files stay inside the JSON). */
export const CONTRACTS_DATA_KEY = 'contracts.json';
/** The API server refuses a ConfigMap whose data values together exceed this many bytes. */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024;

/** The record as the ConfigMap's data value. */
export const contractsData = (record: RecordedContracts) => JSON.stringify(record);

export function contractsConfigMap(p: { target: KubernetesTarget; region: string; rolloutId: string; key: string; data: string }): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: contractsConfigMapName(p.target),
      namespace: p.target.namespace,
      labels: { [LABEL.managedBy]: FIELD_MANAGER, [LABEL.region]: p.region, [LABEL.role]: 'contracts', [LABEL.contractsOf]: p.target.deployment },
      annotations: { [ANNOTATION.rollout]: p.rolloutId, [ANNOTATION.contractsKey]: p.key },
    },
    data: { [CONTRACTS_DATA_KEY]: p.data },
  };
}

/** The container whose image Meridian changes: the named one, else the first. */
export function targetContainer(template: Obj, target: KubernetesTarget): Obj {
  const containers: Obj[] = template?.spec?.containers ?? [];
  const found = target.container ? containers.find((c) => c.name === target.container) : containers[0];
  if (!found) {
    const names = containers.map((c) => c.name).join(', ') || 'none';
    throw new Error(`Deployment ${target.namespace}/${target.deployment} has no container ${target.container ? `"${target.container}"` : ''} (containers: ${names})`);
  }
  return found;
}

/** The container's plain env values: the part of `config` a pod carries. */
export function envConfig(container: Obj): Record<string, string> {
  return Object.fromEntries((container.env ?? []).filter((e: Obj) => typeof e.value === 'string').map((e: Obj) => [e.name, e.value]));
}

/** `template` with the target container's image set and `config` written into its env, by name. */
export function withRelease(template: Obj, target: KubernetesTarget, image: string, config: Record<string, string>): Obj {
  const copy = structuredClone(template);
  const container = targetContainer(copy, target);
  container.image = image;
  const env: Obj[] = (container.env ?? []).filter((e: Obj) => !(e.name in config));
  container.env = [...env, ...Object.entries(config).map(([name, value]) => ({ name, value }))];
  if (container.env.length === 0) delete container.env;
  return copy;
}

/** Pod labels and selector of the canary. With gatewayAPI the stable Service's selector keys are left off, so it never selects canary pods. */
export function canaryLabels(stableTemplate: Obj, target: KubernetesTarget, stableServiceSelector: Record<string, string> = {}): { pod: Obj; selector: Obj } {
  const selector = { [LABEL.role]: 'canary', [LABEL.canaryOf]: target.deployment };
  const inherited: Obj = { ...(stableTemplate.metadata?.labels ?? {}) };
  if (target.traffic.strategy === 'gatewayAPI') for (const k of Object.keys(stableServiceSelector)) delete inherited[k];
  return { pod: { ...inherited, ...selector }, selector };
}

export interface CanaryParts {
  target: KubernetesTarget;
  region: string;
  rolloutId: string;
  stable: Obj;
  image: string;
  config: Record<string, string>;
  replicas: number;
  stableReplicas: number;
  stableServiceSelector?: Record<string, string>;
  annotations: Record<string, string>;
}

export function canaryDeployment(p: CanaryParts): Obj {
  const template = withRelease(p.stable.spec.template, p.target, p.image, p.config);
  const labels = canaryLabels(p.stable.spec.template, p.target, p.stableServiceSelector);
  template.metadata = { ...(template.metadata ?? {}), labels: labels.pod };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: canaryName(p.target),
      namespace: p.target.namespace,
      labels: { [LABEL.managedBy]: FIELD_MANAGER, [LABEL.region]: p.region, ...labels.selector },
      annotations: { [ANNOTATION.rollout]: p.rolloutId, [ANNOTATION.stableReplicas]: String(p.stableReplicas), ...p.annotations },
    },
    spec: {
      replicas: p.replicas,
      selector: { matchLabels: labels.selector },
      progressDeadlineSeconds: Math.max(1, Math.round(p.target.progressDeadline / 1000)),
      template,
    },
  };
}

export function canaryService(p: { target: KubernetesTarget; region: string; rolloutId: string; stableService: Obj; selector: Obj }): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: canaryServiceName(p.target),
      namespace: p.target.namespace,
      labels: { [LABEL.managedBy]: FIELD_MANAGER, [LABEL.region]: p.region, [LABEL.role]: 'canary', [LABEL.canaryOf]: p.target.deployment },
      annotations: { [ANNOTATION.rollout]: p.rolloutId },
    },
    spec: {
      type: 'ClusterIP',
      selector: p.selector,
      ports: (p.stableService.spec?.ports ?? []).map((port: Obj) => ({
        name: port.name,
        port: port.port,
        targetPort: port.targetPort,
        protocol: port.protocol,
      })),
    },
  };
}

/**
 * `rules` with the canary's share set: every backendRef to the stable Service gets `100 - weight`,
 * and a canary backendRef on the same port gets `weight` (added where missing).
 */
export function weightedRules(rules: Obj[], stableService: string, canaryService: string, weight: number): Obj[] {
  return rules.map((rule) => {
    const refs: Obj[] = rule.backendRefs ?? [];
    const stable = refs.find((r) => r.name === stableService && (r.kind ?? 'Service') === 'Service');
    if (!stable) return rule;
    const others = refs.filter((r) => r !== stable && r.name !== canaryService);
    const canary = { ...stable, name: canaryService, weight };
    return { ...rule, backendRefs: [...others, { ...stable, weight: 100 - weight }, canary] };
  });
}

export function routesTo(rules: Obj[], service: string): boolean {
  return rules.some((rule) => (rule.backendRefs ?? []).some((r: Obj) => r.name === service && (r.kind ?? 'Service') === 'Service'));
}
