export const KUBERNETES_VERSION = 'v1.37.2';
/** The k8s.io staging modules (api, apiserver, client-go, …) are tagged v0.<minor>.<patch>. */
export const STAGING_VERSION = 'v0.37.2';
export const KWOK_VERSION = 'v0.8.0';
export const GATEWAY_API_VERSION = 'v1.6.3';

export const DEFAULT_REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'] as const;
export const DEMO_NAMESPACE = 'meridian-demo';
export const RESTRICTED_ACCOUNT = 'meridian-restricted';
/** The region whose restricted context the kubeconfig carries. */
export const RESTRICTED_REGION = 'eu-west-1';
export const NODES_PER_CLUSTER = 2;
