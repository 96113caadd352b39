export { rolloutWorkflow } from './rollout';
export { regionRolloutWorkflow } from './region/index';
export { regionReleaseWorkflow } from './region/release';
