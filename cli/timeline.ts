import { clockTime } from './render';

/** One line of the plain live view: when it happened (epoch ms) and what, without the time. */
export interface TimedLine {
  at: number;
  text: string;
  /** Lines with the same key are one line, printed once however often they arrive. */
  key?: string;
}

/** A line as the stream prints it; `late` is its own time when it came after the stream had passed it. */
export interface OrderedLine {
  at: number;
  text: string;
  late?: number;
}

interface Held extends OrderedLine {
  seq: number;
}

/**
 * Merges the lines of successive polls into one stream in time order. Each line is held until
 * `horizonMs` after its time, so a line that arrives a little after a later one (an audit entry a
 * region reports after the poll that saw its effect) still goes to its place. A line later than
 * the horizon is released at once at the time the stream has reached, with its own time kept as
 * `late`: the stream never goes back in time.
 */
export class Timeline {
  private held: Held[] = [];
  private readonly seen = new Set<string>();
  private reached = -Infinity;
  private seq = 0;

  private readonly horizonMs: number;

  constructor(horizonMs: number) {
    this.horizonMs = horizonMs;
  }

  add(lines: readonly TimedLine[]): void {
    for (const line of lines) {
      if (line.key !== undefined) {
        if (this.seen.has(line.key)) continue;
        this.seen.add(line.key);
      }
      const late = line.at < this.reached;
      this.held.push({ at: late ? this.reached : line.at, text: line.text, ...(late ? { late: line.at } : {}), seq: this.seq++ });
    }
  }

  /** The held lines whose time is at least the horizon before `nowMs`, oldest first. */
  release(nowMs: number): OrderedLine[] {
    return this.take((l) => l.at <= nowMs - this.horizonMs);
  }

  /** Every held line, oldest first; for the end of the stream. */
  flush(): OrderedLine[] {
    return this.take(() => true);
  }

  /** When the oldest held line is due, or undefined when none is held. */
  nextDue(): number | undefined {
    return this.held.length === 0 ? undefined : Math.min(...this.held.map((l) => l.at)) + this.horizonMs;
  }

  private take(due: (line: Held) => boolean): OrderedLine[] {
    const out = this.held.filter(due).sort((a, b) => a.at - b.at || a.seq - b.seq);
    if (out.length === 0) return [];
    this.held = this.held.filter((l) => !due(l));
    this.reached = Math.max(this.reached, out.at(-1)!.at);
    return out.map(({ seq: _seq, ...line }) => line);
  }
}

/** `12:00:03Z eu-west-1 ...`; a late line also says when it happened. */
export function renderOrdered(line: OrderedLine): string {
  const stamp = (ms: number) => clockTime(new Date(ms).toISOString());
  return `${stamp(line.at)} ${line.text}${line.late !== undefined ? ` (at ${stamp(line.late)}, reported late)` : ''}`;
}
