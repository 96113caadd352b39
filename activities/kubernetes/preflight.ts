import type { KubernetesTarget } from '../../domain/spec';
import type { PreflightProblem } from '../types';
import { clientFor, KubeError, retryTransient, type KubeClient } from './client';
import { paths, routesTo, targetContainer, type Obj } from './objects';

export interface Permission {
  group: string;
  resource: string;
  verbs: string[];
}

/** Every verb Meridian uses in a namespace; deploy/kubernetes/rbac.yaml grants exactly these. */
export function requiredPermissions(target: KubernetesTarget): Permission[] {
  const base: Permission[] = [
    { group: 'apps', resource: 'deployments', verbs: ['get', 'list', 'create', 'patch', 'update', 'delete'] },
    { group: 'apps', resource: 'replicasets', verbs: ['list'] },
    { group: '', resource: 'pods', verbs: ['list'] },
    { group: '', resource: 'configmaps', verbs: ['get', 'create', 'patch'] },
  ];
  if (target.traffic.strategy !== 'gatewayAPI') return base;
  return [
    ...base,
    { group: '', resource: 'services', verbs: ['get', 'create', 'patch', 'delete'] },
    { group: 'gateway.networking.k8s.io', resource: 'httproutes', verbs: ['get', 'patch', 'update'] },
  ];
}

const resourceName = (p: Permission) => (p.group ? `${p.resource}.${p.group}` : p.resource);

async function denied(client: KubeClient, namespace: string, p: Permission, verb: string): Promise<string | undefined> {
  const review = await retryTransient(() =>
    client.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { namespace, verb, group: p.group, resource: p.resource } },
      },
    }),
  );
  if (review.status?.allowed) return undefined;
  return review.status?.reason || review.status?.evaluationError || 'no rule allows it';
}

/** Why the API server did not answer `GET /version`: its credentials refused (401, 403), or no answer. */
function unanswered(client: KubeClient, err: unknown): string {
  const status = err instanceof KubeError ? err.status : 0;
  if (status === 401) return `the API server at ${client.server} rejected the worker's credentials (401 ${(err as KubeError).reason}): ${(err as Error).message}; refresh the worker's kubeconfig`;
  if (status === 403) return `the API server at ${client.server} refused get /version (403 ${(err as KubeError).reason}): ${(err as Error).message}; grant the worker's identity Meridian's Role (deploy/kubernetes/rbac.yaml)`;
  return `the API server at ${client.server} is unreachable${status ? ` (${status})` : ''}: ${(err as Error).message}`;
}

/**
 * Everything a region needs before any change anywhere: the context answers, the identity may do
 * each verb Meridian uses, the stable Deployment (and, for gatewayAPI, the route and the stable
 * Service) exist. Each problem names the region, context, namespace, resource and verb.
 */
export async function kubernetesPreflight(input: { region: string; target: KubernetesTarget }): Promise<PreflightProblem[]> {
  const { region, target } = input;
  const where = `context ${target.context}, namespace ${target.namespace}`;
  const problem = (message: string): PreflightProblem => ({ region, message: `${where}: ${message}` });
  let client: KubeClient;
  try {
    client = clientFor(target);
  } catch (err) {
    return [{ region, message: (err as Error).message }];
  }
  try {
    await retryTransient(() => client.request('GET', '/version', { timeoutMs: 5_000 }));
  } catch (err) {
    return [problem(unanswered(client, err))];
  }

  const problems: PreflightProblem[] = [];
  for (const p of requiredPermissions(target)) {
    for (const verb of p.verbs) {
      try {
        const why = await denied(client, target.namespace, p, verb);
        if (why !== undefined) {
          problems.push(problem(`may not ${verb} ${resourceName(p)} (${why}); grant Meridian's Role from deploy/kubernetes/rbac.yaml to this identity`));
        }
      } catch (err) {
        problems.push(problem(`could not check whether it may ${verb} ${resourceName(p)}: ${(err as Error).message}`));
      }
    }
  }

  const read = async (what: string, path: string): Promise<Obj | undefined> => {
    try {
      return await retryTransient(() => client.request('GET', path));
    } catch (err) {
      const status = err instanceof KubeError ? err.status : 0;
      problems.push(problem(status === 404 ? `${what} does not exist` : `cannot get ${what}: ${(err as Error).message}`));
      return undefined;
    }
  };
  const stable = await read(`Deployment ${target.namespace}/${target.deployment}`, paths.deployment(target.namespace, target.deployment));
  if (stable) {
    try {
      targetContainer(stable.spec?.template, target);
    } catch (err) {
      problems.push(problem((err as Error).message));
    }
  }
  if (target.traffic.strategy === 'gatewayAPI') {
    const { httpRoute, stableService } = target.traffic;
    await read(`Service ${target.namespace}/${stableService}`, paths.service(target.namespace, stableService));
    const route = await read(`HTTPRoute ${target.namespace}/${httpRoute}`, paths.route(target.namespace, httpRoute));
    if (route && !routesTo(route.spec?.rules ?? [], stableService)) {
      problems.push(problem(`HTTPRoute ${target.namespace}/${httpRoute} has no backendRef to Service ${stableService}, so it cannot split its traffic`));
    }
  }
  return problems;
}
