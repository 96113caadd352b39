import { loadSpec, formatProblems } from '../client/spec-file';
import type { RolloutPlan } from '../domain/plan';
import type { RolloutSpec } from '../domain/spec';
import { CliError, ExitCode } from './exit-codes';

/** The validated spec and its plan, or a CliError (exit 2) that lists every problem with the file's path. */
export async function loadSpecOrFail(file: string): Promise<{ spec: RolloutSpec; plan: RolloutPlan }> {
  let loaded: Awaited<ReturnType<typeof loadSpec>>;
  try {
    loaded = await loadSpec(file);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CliError(`${file}: cannot read the spec (${why}); check the path`, ExitCode.Usage);
  }
  if (!loaded.ok) throw new CliError(formatProblems(loaded.problems, file), ExitCode.Usage);
  return { spec: loaded.spec, plan: loaded.plan };
}
