/** The Temporal server release the local cluster builds and docker-compose.yml runs; its go.mod asks for Go 1.26.8 and has no replace directives. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.1';
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
/** The image tag of the same release. */
export const TEMPORAL_IMAGE_TAG = TEMPORAL_SERVER_VERSION.slice(1);
