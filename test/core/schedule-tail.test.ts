/**
 * The end of a burst, where the makespan is decided: within one account a
 * large copy waits less than a small one (longest processing time first,
 * bounded), while the ring still gives every account its turn.
 */
import { describe, expect, it } from 'vitest';
import { waitingSince } from '../../lambdas/core/inventory';
import { handleCopyEvent } from '../../lambdas/core/pipeline/completion';
import { handleDelivery, type IntakeDeps } from '../../lambdas/core/pipeline/intake';
import { RingMemory } from '../../lambdas/core/pipeline/schedule';
import {
  COPY_MS,
  delivered,
  notificationV2,
  OTHER,
  SOURCE,
  type VaultFixture,
  vaultFixture,
} from './support/memory-fixtures';

const RDS_EVENT = 'RDS DB Snapshot Event';

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
