export { SimulatedFleet } from './fleet';
export { FleetFileError, type FleetFileProblem } from './store';
export { withSimulatedMetrics } from './simulated-metrics';
export type { ContractsEntry, FleetOp, JournalEntry, RegionState, RegionView, RolloutSimulation, Workload } from './state';
