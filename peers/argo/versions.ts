export const ARGO_ROLLOUTS_MODULE = 'github.com/argoproj/argo-rollouts';
/** Its go.mod asks for Go 1.26.1 and pins the k8s.io modules with `replace` directives. */
export const ARGO_ROLLOUTS_VERSION = 'v1.10.1';
