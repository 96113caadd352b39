import type { Step } from '../../../domain/spec';
import type { RegionStage } from '../stage';

/** Where a step runs: its region stage and its position in the region's steps. */
export interface StepContext {
  stage: RegionStage;
  index: number;
}

/** Runs one step of a region's stage; a step that fails throws the failure the stage ends with. */
export type Run<S extends Step = Step> = (step: S, at: StepContext) => Promise<void>;

/** One runner per step kind: a new kind that has no runner does not compile. */
export type StepRuns = { [K in Step['kind']]: Run<Extract<Step, { kind: K }>> };
