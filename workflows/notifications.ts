import { ApplicationFailure, CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { rootMessage } from '../domain/errors';
import { deliveryKey, type NotificationData, type NotificationEvent, type NotificationPayload, type NotificationPlan } from '../domain/notifications';
import type { PendingApproval, RolloutStatus } from '../domain/status';
import { PRESETS } from './presets';
import type { RolloutState } from './rollout-state';

const { deliverNotification } = proxyActivities<RolloutActivities>(PRESETS.notify);

export interface Notice<E extends NotificationEvent> {
  region?: string;
  reason?: string;
  data: NotificationData[E];
}

/**
 * The rollout's deliveries to its receivers, fire and forget: each runs in the background in a
 * scope no cancellation reaches, and one that still fails after its retries goes to the audit
 * trail (`notification-failed`), never to the rollout. The rollout's end waits for the ones still
 * under way (`afterDeliveries`), since a closed workflow's activities can no longer complete.
 */
export class Notices {
  private readonly counts = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Pending approvals already announced, by region, service, gate and since. */
  private readonly announced = new Set<string>();

  private readonly s: RolloutState;
  private readonly receivers: NotificationPlan[];

  constructor(s: RolloutState, receivers: NotificationPlan[]) {
    this.s = s;
    this.receivers = receivers;
  }

  send<E extends NotificationEvent>(event: E, notice: Notice<E>): void {
    const to = this.receivers.filter((r) => r.events.includes(event));
    if (to.length === 0) return;
    const { s } = this;
    const counter = `${event}/${notice.region ?? ''}`;
    const n = (this.counts.get(counter) ?? 0) + 1;
    this.counts.set(counter, n);
    const payload: NotificationPayload = {
      id: deliveryKey(s.id, event, n, notice.region),
      event,
      rollout: s.id,
      service: s.plan.service,
      version: s.plan.version,
      ...(notice.region === undefined ? {} : { region: notice.region }),
      at: new Date().toISOString(),
      phase: s.phase(),
      ...(notice.reason === undefined ? {} : { reason: notice.reason }),
      data: notice.data as unknown as Record<string, unknown>,
    };
    for (const r of to) this.deliver(r, payload);
  }

  /** A region's pending approvals after its report: each one not yet announced is `approval-needed`. */
  approvals(region: string, pending: Iterable<PendingApproval>): void {
    for (const a of pending) {
      const seen = `${a.region}/${a.service ?? ''}/${a.gate}/${a.since}`;
      if (a.region !== region || this.announced.has(seen)) continue;
      this.announced.add(seen);
      const data = { gate: a.gate, ...(a.service ? { service: a.service } : {}), ...(a.approvers ? { approvers: a.approvers } : {}), ...(a.timeoutAt ? { timeoutAt: a.timeoutAt } : {}) };
      this.send('approval-needed', { region, data });
    }
  }

  private deliver(r: NotificationPlan, payload: NotificationPayload): void {
    const run = CancellationScope.nonCancellable(() =>
      deliverNotification.executeWithOptions({ ...PRESETS.notify, summary: `notify ${r.name}: ${payload.event}` }, [{ notification: r, payload }]),
    ).then(
      () => undefined,
      (err: unknown) => {
        const error = rootMessage(err);
        this.s.record('notification-failed', `${r.name} did not take ${payload.event} (${payload.id}): ${error}`, {
          ...(payload.region === undefined ? {} : { region: payload.region }),
          data: { notification: r.name, event: payload.event, key: payload.id, error },
        });
      },
    );
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  /** Resolves once no delivery is under way; each is bounded by its retry policy. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}

/**
 * The rollout's end, then its last deliveries. The status it returns or fails with is taken again
 * afterwards, so it holds every `notification-failed` entry. Without receivers this is `end()` alone.
 */
export async function afterDeliveries(s: RolloutState, end: () => Promise<RolloutStatus>): Promise<RolloutStatus> {
  const notices = s.notices;
  if (!notices) return end();
  try {
    await end();
  } catch (err) {
    await notices.settled();
    if (!(err instanceof ApplicationFailure)) throw err;
    throw ApplicationFailure.create({ message: err.message, type: err.type ?? undefined, nonRetryable: err.nonRetryable === true, details: [s.status()] });
  }
  await notices.settled();
  return s.status();
}
