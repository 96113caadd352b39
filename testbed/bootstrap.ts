import { readFileSync } from 'node:fs';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
  RbacAuthorizationV1Api,
  type V1Node,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { waitFor } from './health';
import { DEMO_NAMESPACE, NODES_PER_CLUSTER, RESTRICTED_ACCOUNT } from './versions';

/** Creates, treating "already exists" as done, so a re-run bootstrap is harmless. */
async function ensure(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
}

function manifests(files: string[]): KubernetesObject[] {
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8'))
      .map((doc) => doc.toJS() as KubernetesObject | null)
      .filter((obj): obj is KubernetesObject => Boolean(obj?.kind)),
  );
}

function fakeNode(name: string): V1Node {
  const resources = { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: resources,
      capacity: resources,
      nodeInfo: {
        architecture: 'amd64',
        bootID: '',
        containerRuntimeVersion: '',
        kernelVersion: '',
        kubeProxyVersion: 'fake',
        kubeletVersion: 'fake',
        machineID: '',
        operatingSystem: 'linux',
        osImage: '',
        systemUUID: '',
      },
      phase: 'Running',
    },
  };
}

const isReady = (node: V1Node) => node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export interface BootstrapResult {
  nodes: string[];
  /** Token of the restricted ServiceAccount, when asked for. */
  restrictedToken?: string;
}

/**
 * Makes a fresh cluster usable: the demo namespace, the manifests (Gateway API CRDs), kwok nodes
 * (waited on until Ready), and optionally the restricted ServiceAccount with a long-lived token.
 */
export async function bootstrapCluster(opts: {
  name: string;
  adminKubeconfig: string;
  manifestFiles: string[];
  restricted: boolean;
  timeoutMs?: number;
}): Promise<BootstrapResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const kc = new KubeConfig();
  kc.loadFromFile(opts.adminKubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const crds = kc.makeApiClient(ApiextensionsV1Api);

  await ensure(() => core.createNamespace({ body: { metadata: { name: DEMO_NAMESPACE } } }));
  const docs = manifests(opts.manifestFiles);
  await Promise.all(docs.map((doc) => ensure(() => objects.create(doc))));

  const nodes = Array.from({ length: NODES_PER_CLUSTER }, (_, i) => `kwok-${opts.name}-${i}`);
  await Promise.all(nodes.map((name) => ensure(() => core.createNode({ body: fakeNode(name) }))));

  let restrictedToken: string | undefined;
  if (opts.restricted) restrictedToken = await createRestrictedAccount(kc);

  const crdNames = docs.filter((d) => d.kind === 'CustomResourceDefinition').map((d) => d.metadata?.name as string);
  await waitFor(
    `${opts.name}: CRDs established`,
    async () => {
      for (const name of crdNames) {
        const crd = await crds.readCustomResourceDefinition({ name });
        if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return undefined;
      }
      return true;
    },
    { timeoutMs },
  );
  await waitFor(
    `${opts.name}: kwok nodes Ready`,
    async () => {
      const list = await core.listNode({});
      return nodes.every((n) => list.items.some((node) => node.metadata?.name === n && isReady(node))) ? true : undefined;
    },
    { timeoutMs },
  );
  // The controller-manager creates each namespace's default ServiceAccount; pods need it.
  await waitFor(`${opts.name}: default ServiceAccount in ${DEMO_NAMESPACE}`, () => core.readNamespacedServiceAccount({ name: 'default', namespace: DEMO_NAMESPACE }), {
    timeoutMs,
  });
  return { nodes, restrictedToken };
}

const TOKEN_SECONDS = 365 * 24 * 3600;

async function createRestrictedAccount(kc: KubeConfig): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const namespace = DEMO_NAMESPACE;
  const name = RESTRICTED_ACCOUNT;
  await ensure(() => core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }));
  await ensure(() =>
    rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name },
        rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] }],
      },
    }),
  );
  await ensure(() =>
    rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    }),
  );
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: TOKEN_SECONDS } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}
