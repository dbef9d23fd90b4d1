/**
 * A container's watch over the copies it started: when one is well past the
 * time its pool's copies of its size take, its completion event was most
 * likely lost, and the next invocation of that pool describes it once and
 * settles it, instead of leaving its slot taken until the sweep's first
 * look (15 minutes after the copy started, at the next sweep after that).
 *
 * The expected time is learned in the container, per pool, from the copies
 * it watched whose completion event arrived: a least-squares line of the
 * time from the copy's request to its event against the copy's size (AWS's
 * copy time grows with the size; the event's own delay is in the figure,
 * which is what a look must wait out anyway). Copies settled by a look or by
 * the sweep do not teach it: they would be seen late on purpose.
 *
 * A copy is due a look at {@link LOOK_FACTOR} times its expected time, then
 * at twice its age at each look that found it still copying. Nothing is read
 * to find a due copy: the watch is the container's own memory, so an
 * invocation with nothing due pays nothing. A container that is recycled
 * forgets its watch; the sweep is still the backstop.
 */
import type { CopyLocation } from '../../kinds/types';
import type { InventoryRecord } from '../inventory';

/**
 * A copy is looked at when its age reaches this many times the expected
 * time of its pool and size. Measured (seed 2026): under the faults
 * 2 gave a ratio of 1.17 and 1.5 gave 1.14; in the fleet without faults,
 * where every look is at a copy still copying or whose event is on its way,
 * 2 cost 0.05 vault requests per RDS artifact and 1.5 cost 0.22. Each look
 * is a read and a describe; in AWS a copy whose event another container
 * handled costs its watcher that read, so fewer looks are also the safer.
 */
export const LOOK_FACTOR = 2;
/** Completions a pool's line needs before the watch trusts it: before, nothing is looked at early. */
export const MIN_SAMPLES = 20;
/**
 * The weight each older completion keeps at each new one: the line follows
 * a change of the copies' pace (a larger database, AWS slower at night)
 * over about a hundred completions.
 */
export const DECAY = 0.99;
/** Past this age the sweep's own looks (every 2 hours) are enough: the watch lets the copy go. */
export const WATCH_LIMIT_MS = 4 * 3_600_000;

interface Watched {
  readonly artifactId: string;
  readonly pool: string;
  readonly sizeGiB: number;
  readonly startedAtMs: number;
  /** Where the copy is, for a pool's batched look; `undefined` for a record that names no target. */
  readonly location: CopyLocation | undefined;
  /** When the copy is next due a look; `undefined` until the pool's line is trusted. */
  dueAtMs: number | undefined;
}

/** Decayed sums of a least-squares line `seconds = a + b × sizeGiB`. */
interface Fit {
  n: number;
  x: number;
  y: number;
  xx: number;
  xy: number;
  samples: number;
}

export class CopyWatch {
  private readonly copies = new Map<string, Watched>();
  private readonly fits = new Map<string, Fit>();

  /** The copy of `record` was requested at `nowMs` by this container. */
  started(record: InventoryRecord, nowMs: number): void {
    if (!record.pool) return;
    this.copies.set(record.artifactId, {
      artifactId: record.artifactId,
      pool: record.pool,
      sizeGiB: record.sizeGiB ?? 0,
      startedAtMs: nowMs,
      location:
        record.targetName && record.targetRegion
          ? { targetName: record.targetName, targetId: record.targetId, region: record.targetRegion }
          : undefined,
      dueAtMs: undefined,
    });
  }

  /**
   * The copy of `artifactId` left `copying` at `nowMs`; `byEvent` when its
   * completion event said so, which teaches the pool's line.
   */
  ended(artifactId: string, nowMs: number, byEvent: boolean): void {
    const watched = this.copies.get(artifactId);
    if (!watched) return;
    this.copies.delete(artifactId);
    if (byEvent) this.learn(watched.pool, watched.sizeGiB, (nowMs - watched.startedAtMs) / 1000);
  }

  /** The seconds a copy of `sizeGiB` in `pool` is expected to take to its event; `undefined` before {@link MIN_SAMPLES}. */
  expectedSeconds(pool: string, sizeGiB: number): number | undefined {
    const fit = this.fits.get(pool);
    if (!fit || fit.samples < MIN_SAMPLES) return undefined;
    const mean = fit.y / fit.n;
    const spread = fit.n * fit.xx - fit.x * fit.x;
    if (spread <= 1e-9 * fit.n * fit.n) return mean;
    const slope = (fit.n * fit.xy - fit.x * fit.y) / spread;
    const line = (fit.y - slope * fit.x) / fit.n + slope * sizeGiB;
    // A line fitted to noisy times can dip for sizes it never saw: never below a tenth of the mean.
    return Math.max(line, mean / 10);
  }

  /**
   * The watched copy of `pool` most overdue at `nowMs`, marked looked at:
   * its next look is due at twice its age. `undefined` when none is due.
   */
  takeDue(pool: string, nowMs: number): string | undefined {
    let most: Watched | undefined;
    for (const watched of this.copies.values()) {
      if (watched.pool !== pool) continue;
      if (nowMs - watched.startedAtMs > WATCH_LIMIT_MS) {
        this.copies.delete(watched.artifactId);
        continue;
      }
      if (watched.dueAtMs === undefined) {
        const expected = this.expectedSeconds(pool, watched.sizeGiB);
        if (expected === undefined) continue;
        watched.dueAtMs = watched.startedAtMs + LOOK_FACTOR * expected * 1000;
      }
      if (watched.dueAtMs <= nowMs && (!most || (most.dueAtMs as number) > watched.dueAtMs)) most = watched;
    }
    if (!most) return undefined;
    most.dueAtMs = nowMs + (nowMs - most.startedAtMs);
    return most.artifactId;
  }

  /** Lets go of the watched copies of `pool` older than {@link WATCH_LIMIT_MS} at `nowMs`, as {@link takeDue} does. */
  prune(pool: string, nowMs: number): void {
    for (const watched of this.copies.values())
      if (watched.pool === pool && nowMs - watched.startedAtMs > WATCH_LIMIT_MS) this.copies.delete(watched.artifactId);
  }

  /** The copies of `pool` this container watches, where they are: what a batched look asks about. */
  inFlight(pool: string): { readonly artifactId: string; readonly location: CopyLocation }[] {
    const found: { artifactId: string; location: CopyLocation }[] = [];
    for (const watched of this.copies.values())
      if (watched.pool === pool && watched.location)
        found.push({ artifactId: watched.artifactId, location: watched.location });
    return found;
  }

  /** Copies watched now: for tests and the simulation's figures. */
  get size(): number {
    return this.copies.size;
  }

  private learn(pool: string, sizeGiB: number, seconds: number): void {
    const fit = this.fits.get(pool) ?? { n: 0, x: 0, y: 0, xx: 0, xy: 0, samples: 0 };
    this.fits.set(pool, {
      n: fit.n * DECAY + 1,
      x: fit.x * DECAY + sizeGiB,
      y: fit.y * DECAY + seconds,
      xx: fit.xx * DECAY + sizeGiB * sizeGiB,
      xy: fit.xy * DECAY + sizeGiB * seconds,
      samples: fit.samples + 1,
    });
  }
}
