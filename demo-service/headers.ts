/** The response header that names the version that answered. */
export const SERVED_BY_HEADER = 'x-served-by';

/** The suffix Envoy adds to the Host (`:authority`) of the copies it mirrors. */
export const SHADOW_HOST_SUFFIX = '-shadow';

/**
 * Whether a Host header marks a mirrored copy: Envoy 1.40 puts the suffix before the port
 * (`127.0.0.1-shadow:8080`); a suffix after the port (`127.0.0.1:8080-shadow`) counts too.
 */
export function isShadowHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  return host.endsWith(SHADOW_HOST_SUFFIX) || host.replace(/:\d+$/, '').endsWith(SHADOW_HOST_SUFFIX);
}
