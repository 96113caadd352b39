import { sleep } from '@temporalio/workflow';
import { formatDuration } from '../../domain/duration';
import { describeWindows, windowWaitMs } from '../../domain/windows';
import type { RegionStage } from './stage';

/** Waits, on durable timers, until the region's deployment window is open. */
export async function waitForWindow(stage: RegionStage): Promise<void> {
  const { windows } = stage.region;
  for (;;) {
    const waitMs = windowWaitMs(Date.now(), windows);
    if (waitMs === 0) return;
    const until = new Date(Date.now() + waitMs).toISOString();
    stage.update({ waitingUntil: until });
    stage.setPhase('WaitingForWindow', `outside its deployment window (${describeWindows(windows)}); opens ${until}`);
    stage.record('window-wait', `waiting ${formatDuration(waitMs)} for the deployment window ${describeWindows(windows)}`, { waitMs, until });
    await stage.report();
    await sleep(waitMs, { summary: `deployment window ${stage.name} opens ${until}` });
    stage.update({ waitingUntil: undefined });
  }
}
