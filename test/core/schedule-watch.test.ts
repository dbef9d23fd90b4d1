/**
 * The container's watch over the copies it started (`CopyWatch`): the time
 * it expects a copy of a pool and size to take, learned from completion
 * events only, and when a copy is due a look.
 */
import { describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { newRecord } from '../../lambdas/core/inventory';
import { CopyWatch } from '../../lambdas/core/pipeline/watch';

const POOL = 'rds-snapshot@eu-west-1';
const T0 = Date.parse('2026-03-01T04:00:00.000Z');
const SECOND = 1_000;

function copying(id: string, sizeGiB: number, pool = POOL): InventoryRecord {
  return newRecord(
    { artifactId: id, kind: 'rds-snapshot', status: 'copying', sourceAccount: '111111111111', pool, sizeGiB },
    new Date(T0),
  );
}

/** Twenty copies of `pool` whose events came `120 + 3 × size` seconds after their request, sizes 10 to 200 GiB. */
function taught(watch: CopyWatch, pool = POOL): void {
  for (let n = 1; n <= 20; n += 1) {
    const size = 10 * n;
    watch.started(copying(`taught-${pool}-${n}`, size, pool), T0);
    watch.ended(`taught-${pool}-${n}`, T0 + (120 + 3 * size) * SECOND, true);
  }
}

describe('the copy watch', () => {
  it('expects nothing before twenty completion events, then the line through their times by size', () => {
    const watch = new CopyWatch();
    for (let n = 1; n <= 19; n += 1) {
      watch.started(copying(`c${n}`, 10 * n), T0);
      watch.ended(`c${n}`, T0 + (120 + 30 * n) * SECOND, true);
    }
    const before = watch.expectedSeconds(POOL, 100);
    watch.started(copying('c20', 200), T0);
    watch.ended('c20', T0 + 720 * SECOND, true);

    expect(before).toBeUndefined();
    expect(watch.expectedSeconds(POOL, 100)).toBeCloseTo(420, 6);
    expect(watch.expectedSeconds(POOL, 1_000)).toBeCloseTo(3_120, 6);
    expect(watch.expectedSeconds('ebs-snapshot@eu-west-1', 100)).toBeUndefined();
  });

  it('learns nothing from a copy settled by a look or the sweep, nor from a copy it did not start', () => {
    const watch = new CopyWatch();
    for (let n = 1; n <= 19; n += 1) {
      watch.started(copying(`c${n}`, 50), T0);
      watch.ended(`c${n}`, T0 + 300 * SECOND, true);
    }
    watch.started(copying('looked', 50), T0);
    watch.ended('looked', T0 + 5_000 * SECOND, false);
    watch.ended('elsewhere', T0 + 5_000 * SECOND, true);

    expect(watch.expectedSeconds(POOL, 50)).toBeUndefined();
    expect(watch.size).toBe(0);
  });

  it('makes a copy due at twice its expected time, then at twice its age at each look', () => {
    const watch = new CopyWatch();
    taught(watch);
    // 100 GiB: expected 420 s, due at 840 s.
    const start = T0 + 3_600 * SECOND;
    watch.started(copying('big', 100), start);
    watch.started(copying('other-pool', 100, 'ebs-snapshot@eu-west-1'), start);

    const early = watch.takeDue(POOL, start + 839 * SECOND);
    const due = watch.takeDue(POOL, start + 840 * SECOND);
    const tooSoonAgain = watch.takeDue(POOL, start + 1_679 * SECOND);
    const again = watch.takeDue(POOL, start + 1_680 * SECOND);

    expect([early, due, tooSoonAgain, again]).toEqual([undefined, 'big', undefined, 'big']);
    expect(watch.takeDue('ebs-snapshot@eu-west-1', start + 10_000 * SECOND)).toBeUndefined();
  });

  it('takes the most overdue copy of the pool first: a small copy overdue before a large one started earlier', () => {
    const watch = new CopyWatch();
    taught(watch);
    const start = T0 + 3_600 * SECOND;
    // 300 GiB: expected 1,020 s, due at 2,040 s. 10 GiB started 100 s later: expected 150 s, due at 400 s.
    watch.started(copying('large', 300), start);
    watch.started(copying('small', 10), start + 100 * SECOND);

    expect(watch.takeDue(POOL, start + 2_100 * SECOND)).toBe('small');
    expect(watch.takeDue(POOL, start + 2_100 * SECOND)).toBe('large');
    expect(watch.takeDue(POOL, start + 2_100 * SECOND)).toBeUndefined();
  });

  it('lets a copy go after four hours: the sweep looks at it every two hours', () => {
    const watch = new CopyWatch();
    taught(watch);
    const start = T0 + 3_600 * SECOND;
    watch.started(copying('stuck', 10), start);

    expect(watch.takeDue(POOL, start + 4 * 3_600 * SECOND + 1)).toBeUndefined();
    expect(watch.size).toBe(0);
  });

  it('lets copies older than four hours go when pruned, of the pool named only', () => {
    const watch = new CopyWatch();
    const other = 'aurora-snapshot@eu-west-1';
    const located = (id: string, pool: string) => ({
      ...copying(id, 10, pool),
      targetName: id,
      targetRegion: 'eu-west-1',
    });
    watch.started(located('old', POOL), T0);
    watch.started(located('old-elsewhere', other), T0);
    watch.started(located('young', POOL), T0 + 3_600 * SECOND);

    watch.prune(POOL, T0 + 4 * 3_600 * SECOND + 1);

    expect(watch.inFlight(POOL).map((c) => c.artifactId)).toEqual(['young']);
    expect(watch.inFlight(other).map((c) => c.artifactId)).toEqual(['old-elsewhere']);
  });
});
