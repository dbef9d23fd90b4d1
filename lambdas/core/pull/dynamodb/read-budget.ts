/**
 * The read budget of a scan dump: a token bucket over consumed read
 * capacity units. A page's cost is known only from its response, so each
 * page reserves what the previous page of its segment cost and settles the
 * difference afterwards; parallel segments share one bucket, and the
 * overshoot is at most one page's misestimate per segment. The clock and
 * the sleep are injected, so tests measure the rate on a virtual clock.
 */
import type { Clock } from '../../ports';

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class ReadBudget {
  private available: number;
  private last: number;

  /** `unitsPerSecond` of read capacity; the bucket holds one second's worth, full at the start. */
  constructor(
    private readonly unitsPerSecond: number,
    private readonly clock: Clock,
    private readonly sleep: Sleep,
  ) {
    if (!(unitsPerSecond > 0)) throw new Error(`a scan's read rate must be above 0 (got ${unitsPerSecond})`);
    this.available = unitsPerSecond;
    this.last = clock.now().getTime();
  }

  get rate(): number {
    return this.unitsPerSecond;
  }

  private refill(): void {
    const now = this.clock.now().getTime();
    this.available = Math.min(this.unitsPerSecond, this.available + ((now - this.last) / 1000) * this.unitsPerSecond);
    this.last = now;
  }

  /** Waits until the bucket is not in debt, then reserves `estimate` units. */
  async reserve(estimate: number): Promise<void> {
    this.refill();
    while (this.available <= 0) {
      await this.sleep(Math.ceil((-this.available / this.unitsPerSecond) * 1000) + 1);
      this.refill();
    }
    this.available -= estimate;
  }

  /** Settles a page: what it consumed beyond (or below) its reservation. */
  settle(estimate: number, consumed: number): void {
    this.available -= consumed - estimate;
  }
}
