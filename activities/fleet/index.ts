export { SimulatedFleet } from './fleet';
export { withSimulatedMetrics } from './simulated-metrics';
export type { FleetOp, JournalEntry, RegionState, RegionView, RolloutSimulation, Workload } from './state';
