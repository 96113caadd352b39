export { type ArgoCache, argoCache, type ArgoRollouts, ensureArgoRollouts, type Log } from './build';
export { controllerArgs, controllerLogFile, type ControllerOptions, type ControllerPorts, installRolloutsCrds, RolloutsController, startRolloutsController } from './controller';
export { ARGO_ROLLOUTS_MODULE, ARGO_ROLLOUTS_VERSION } from './versions';
