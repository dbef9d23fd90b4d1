/**
 * The virtual clock of the discrete-event simulation: a priority queue of
 * events ordered by time, then by the order they were scheduled, and no
 * real timer anywhere. Work that waits (a port call's latency, a Lambda
 * started later, a copy that takes an hour) schedules an event and awaits
 * it; {@link EventLoop.run} pops events in order, moves the clock to each,
 * and lets every continuation that event released run to its next await
 * before the next event. Concurrent invocations therefore interleave at
 * their await points, in an order fixed by the times drawn from the seed.
 */
import type { Clock } from '../lambdas/core/ports';

interface Scheduled {
  readonly at: number;
  /** Ties at one time run in the order they were scheduled: determinism without a comparator on closures. */
  readonly seq: number;
  readonly run: () => void;
}

/** A binary min-heap on (`at`, `seq`): O(log n) per event, where a sorted array would be O(n). */
class EventHeap {
  private readonly items: Scheduled[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: Scheduled): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): Scheduled | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < items.length && before(items[left], items[least])) least = left;
        if (right < items.length && before(items[right], items[least])) least = right;
        if (least === i) break;
        [items[i], items[least]] = [items[least], items[i]];
        i = least;
      }
    }
    return top;
  }
}

const before = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** Lets every microtask queued so far (and those they queue) run: one macrotask turn, no time passes. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The simulation's time and its event queue. It is also the core's
 * {@link Clock}: every timestamp the core writes is virtual time.
 */
export class EventLoop implements Clock {
  private ms: number;
  private seq = 0;
  private readonly heap = new EventHeap();
  /** Events run so far. */
  events = 0;

  constructor(start: string | number = '2026-03-01T00:00:00.000Z') {
    this.ms = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  get epochMs(): number {
    return this.ms;
  }

  /** Runs `work` at `at` (epoch ms; never in the past). */
  at(at: number, work: () => void): void {
    this.seq += 1;
    this.heap.push({ at: Math.max(at, this.ms), seq: this.seq, run: work });
  }

  /** Runs `work` after `ms` of virtual time. */
  after(ms: number, work: () => void): void {
    this.at(this.ms + Math.max(0, ms), work);
  }

  /** Resolves after `ms` of virtual time: the await point where other invocations may run. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Events still queued. */
  get pending(): number {
    return this.heap.size;
  }

  /**
   * Pops events in time order until none is left or `until` says stop
   * (checked before each event). Each event's continuations run before the
   * next event is taken.
   */
  async run(until: (nextAt: number) => boolean = () => false): Promise<void> {
    for (;;) {
      await settle();
      const next = this.heap.pop();
      if (!next) return;
      if (until(next.at)) {
        this.heap.push(next);
        return;
      }
      this.ms = next.at;
      this.events += 1;
      next.run();
    }
  }
}
