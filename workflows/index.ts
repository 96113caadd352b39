export { rolloutWorkflow } from './rollout';
export { regionRolloutWorkflow } from './region/index';
