/** What a request asks of a Kubernetes API server, read from its method and path the way the API server's authorizer reads it. */
export interface RequestAttributes {
  verb: string;
  /** `deployments.apps`, `pods`; absent for non-resource paths such as /version. */
  resource?: string;
  namespace?: string;
  name?: string;
}

const VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/**
 * `PATCH /apis/apps/v1/namespaces/shop/deployments/web` → `{ verb: 'patch', resource: 'deployments.apps', namespace: 'shop', name: 'web' }`;
 * a GET of a collection is `list` (or `watch` with ?watch), of a named object `get`.
 */
export function requestAttributes(method: string, url: string): RequestAttributes {
  const parsed = new URL(url, 'https://proxy');
  const parts = parsed.pathname.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : undefined;
  const group = parts[0] === 'apis' ? parts[1] : '';
  const upper = method.toUpperCase();
  if (!rest || rest.length === 0) return { verb: upper === 'GET' ? 'get' : (VERBS[upper] ?? upper.toLowerCase()) };
  const namespaced = rest[0] === 'namespaces' && rest.length > 2;
  const [namespace, tail] = namespaced ? [rest[1], rest.slice(2)] : [undefined, rest];
  const resource = `${tail[0]}${group ? `.${group}` : ''}`;
  const name = tail[1];
  const verb = upper === 'GET' ? (name ? 'get' : parsed.searchParams.get('watch') === 'true' ? 'watch' : 'list') : (VERBS[upper] ?? upper.toLowerCase());
  return { verb, resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
}

