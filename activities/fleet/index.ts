export { SimulatedFleet } from './fleet';
export type { FleetOp, JournalEntry, RegionState, RegionView, RolloutSimulation, Workload } from './state';
