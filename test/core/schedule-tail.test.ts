/**
 * The end of a burst, where the makespan is decided: within one account a
 * large copy waits less than a small one (longest processing time first,
 * bounded), and the backlog turns go to the few longest source backlogs in
 * proportion to what each holds back, not to the longest alone.
 */
import { describe, expect, it } from 'vitest';
import { waitingSince } from '../../lambdas/core/inventory';
import { backlogTurn, type SourceBacklogs } from '../../lambdas/core/pipeline/backlog';
import { handleCopyEvent } from '../../lambdas/core/pipeline/completion';
import { handleDelivery, type IntakeDeps } from '../../lambdas/core/pipeline/intake';
import { RingMemory } from '../../lambdas/core/pipeline/schedule';
import { MemorySourceBacklogs } from '../../sim/memory-backlogs';
import {
  COPY_MS,
  delivered,
  notificationV2,
  OTHER,
  REGION,
  SOURCE,
  T0,
  type VaultFixture,
  vaultFixture,
} from './support/memory-fixtures';

const POOL = 'rds-snapshot@eu-west-1';
const RDS_EVENT = 'RDS DB Snapshot Event';
const THIRD = '555555555555';
const artifactOf = (id: string, account = SOURCE) => `rds-snapshot:${account}:${REGION}:${id}`;

/** Lets AWS finish the one copy in progress and delivers its event: one copy duration. */
async function finishOne(v: VaultFixture, deps: IntakeDeps): Promise<void> {
  v.clock.advance(COPY_MS);
  for (const record of v.inventory.records().filter((r) => r.status === 'copying')) {
    await handleCopyEvent(
      RDS_EVENT,
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: record.targetName as string },
      deps,
    );
  }
}

/** The source snapshot ids of the copies AWS was asked for, in order. */
const copied = (v: VaultFixture) => v.world.copies.map((c) => c.sourceArn.split(':snapshot:')[1]);

/** A pool of one copy at a time, one running, and the given records waiting since their times, of their sizes. */
async function waitingPool(waiting: readonly [account: string, name: string, at: string, sizeGiB: number][]) {
  const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
  const deps: IntakeDeps = { ...v.deps, ring: new RingMemory() };
  v.shared('bunker-share-running');
  await handleDelivery(delivered(notificationV2('bunker-share-running')), deps);
  for (const [account, name, at, sizeGiB] of waiting) {
    const arn = v.shared(`bunker-share-${name}`, { account }).arn;
    v.inventory.put({ ...v.waitingSince(arn, at), sizeGiB });
  }
  return { v, deps };
}

describe("a waiting record's place in its account's queue", () => {
  it('is when it was written, less a minute per GiB of its source, at most four hours', () => {
    const at = '2026-03-01T10:00:00.000Z';

    expect(waitingSince({ updatedAt: at, sizeGiB: 30 })).toBe('2026-03-01T09:30:00.000Z');
    expect(waitingSince({ updatedAt: at, sizeGiB: 240 })).toBe('2026-03-01T06:00:00.000Z');
    expect(waitingSince({ updatedAt: at, sizeGiB: 16_384 })).toBe('2026-03-01T06:00:00.000Z');
    expect(waitingSince({ updatedAt: at })).toBe(at);
    expect(waitingSince({ updatedAt: at, sizeGiB: 0 })).toBe(at);
  });

  it('starts a copy of 240 GiB written three hours after one of 10 GiB of the same account first', async () => {
    const { v, deps } = await waitingPool([
      [SOURCE, 'small', '2026-03-01T04:00:00.000Z', 10],
      [SOURCE, 'large', '2026-03-01T07:00:00.000Z', 240],
    ]);

    await finishOne(v, deps);
    await finishOne(v, deps);

    expect(copied(v)).toEqual(['bunker-share-running', 'bunker-share-large', 'bunker-share-small']);
  });

  it('keeps a small copy first once it has waited longer than the bound: four hours and a minute', async () => {
    const { v, deps } = await waitingPool([
      [SOURCE, 'small', '2026-03-01T00:00:00.000Z', 1],
      [SOURCE, 'huge', '2026-03-01T04:02:00.000Z', 16_384],
    ]);

    await finishOne(v, deps);
    await finishOne(v, deps);

    expect(copied(v)).toEqual(['bunker-share-running', 'bunker-share-small', 'bunker-share-huge']);
  });

  it("still gives another account's single small snapshot the next slot, ahead of a flood of large ones", async () => {
    const { v, deps } = await waitingPool([
      [SOURCE, 'l1', '2026-03-01T04:01:00.000Z', 2_000],
      [SOURCE, 'l2', '2026-03-01T04:02:00.000Z', 2_000],
      [SOURCE, 'l3', '2026-03-01T04:03:00.000Z', 2_000],
      [OTHER, 'single', '2026-03-01T04:30:00.000Z', 1],
    ]);

    await finishOne(v, deps);

    expect(copied(v)).toEqual(['bunker-share-running', 'bunker-share-single']);
  });
});

/** A vault whose board answers its longest backlogs, as the DynamoDB board's `Limit: n` query does. */
function withLeadingBoard() {
  const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
  const board = new MemorySourceBacklogs();
  const reads: number[] = [];
  const leading: SourceBacklogs = {
    report: (pool, entry) => board.report(pool, entry),
    longest: (pool) => board.longest(pool),
    forget: (pool, account, at) => board.forget(pool, account, at),
    leading: async (pool, limit) => {
      reads.push(limit);
      return board
        .entries(pool)
        .sort((a, b) => b.backlog - a.backlog)
        .slice(0, limit);
    },
  };
  const deps: IntakeDeps = { ...v.deps, backlogs: leading, ring: new RingMemory() };
  return { v, board, deps, reads };
}

describe('the backlog turns, over the longest backlogs in order', () => {
  it('go to the second-longest backlog when the longest has nothing waiting, not to the account after it', async () => {
    const { v, board, deps, reads } = withLeadingBoard();
    v.shared('bunker-share-r1');
    await handleDelivery(delivered(notificationV2('bunker-share-r1')), deps);
    // SOURCE holds the most back but has nothing else at the vault; THIRD sorts right after it.
    v.inventory.put(v.waitingSince(v.shared('bunker-share-x1', { account: THIRD }).arn, '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(v.shared('bunker-share-o1', { account: OTHER }).arn, '2026-03-01T04:02:00.000Z'));
    await board.report(POOL, { account: SOURCE, backlog: 300, at: T0 });
    await board.report(POOL, { account: OTHER, backlog: 200, at: T0 });

    await finishOne(v, deps);

    expect(backlogTurn(artifactOf('bunker-share-r1'))).toBe(true);
    expect(reads).toEqual([4]);
    // With the longest alone, the turn went past SOURCE to the next account round the ring: THIRD's x1.
    expect(copied(v)).toEqual(['bunker-share-r1', 'bunker-share-o1']);
  });

  it("give the longest backlog every turn it can use, and keep the ring's turns for every other account", async () => {
    const { v, board, deps } = withLeadingBoard();
    v.shared('bunker-share-r1');
    await handleDelivery(delivered(notificationV2('bunker-share-r1')), deps);
    const waiting: [string, string][] = [
      [SOURCE, 's1'],
      [SOURCE, 's2'],
      [SOURCE, 's3'],
      [OTHER, 'o1'],
      [OTHER, 'o2'],
      [THIRD, 'x1'],
    ];
    waiting.forEach(([account, n], i) =>
      v.inventory.put(
        v.waitingSince(v.shared(`bunker-share-${n}`, { account }).arn, `2026-03-01T04:0${i + 1}:00.000Z`),
      ),
    );
    await board.report(POOL, { account: SOURCE, backlog: 300, at: T0 });
    await board.report(POOL, { account: OTHER, backlog: 200, at: T0 });

    for (let copy = 0; copy < 6; copy += 1) await finishOne(v, deps);

    // Whose turn each freed slot was: the freed copy's id decides.
    const freed = [
      artifactOf('bunker-share-r1'),
      artifactOf('bunker-share-s1'),
      artifactOf('bunker-share-o1', OTHER),
      artifactOf('bunker-share-s2'),
      artifactOf('bunker-share-x1', THIRD),
    ];
    expect(freed.map((id) => backlogTurn(id))).toEqual([true, false, true, false, true]);
    expect(copied(v)).toEqual([
      'bunker-share-r1',
      'bunker-share-s1',
      'bunker-share-o1',
      'bunker-share-s2',
      'bunker-share-x1',
      'bunker-share-s3',
      'bunker-share-o2',
    ]);
  });
});
