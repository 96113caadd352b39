export { SimulatedFleet } from './fleet';
export { withSimulatedMetrics } from './simulated-metrics';
export type { ContractsEntry, FleetOp, JournalEntry, RegionState, RegionView, RolloutSimulation, Workload } from './state';
