/**
 * The scheduled sweep (`scheduledSweep`): a backstop that, during a
 * backlog, reads nothing the event paths handle, and still keeps every
 * guarantee of the full sweep within a stated time: a copy whose completion
 * event was lost is settled, a claim whose worker crashed is taken over, a
 * failed copy is retried when its backoff ends, waiting copies fill free
 * slots, and each registered account's shares are listed once a period.
 */
import { describe, expect, it } from 'vitest';
import { takeInListingOf } from '../../lambdas/core/pipeline/adopt';
import {
  copyLookDue,
  FULL_SWEEP,
  scheduledSweep,
  sweepCopies,
  takeInSlotOf,
} from '../../lambdas/core/pipeline/completion';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import type { Inventory } from '../../lambdas/core/ports';
import { SimulatedFaultError } from '../../sim/memory-aws';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { COPY_MS, delivered, notificationV2, OTHER, SOURCE, vaultFixture } from './support/memory-fixtures';

const POOL = 'rds-snapshot@eu-west-1';
const artifactOf = (id: string, account = SOURCE) => `rds-snapshot:${account}:eu-west-1:${id}`;

/** The fixture's inventory with its calls counted by method. */
function counted(inventory: Inventory): { inventory: Inventory; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(inventory, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { inventory: proxy, calls };
}

/** The fixture's inventory with the statuses it was asked to list, in order. */
function listings(inventory: Inventory): { inventory: Inventory; listed: string[] } {
  const listed: string[] = [];
  const proxy = new Proxy(inventory, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'listByStatus' || typeof value !== 'function') return value;
      return (status: string) => {
        listed.push(status);
        return (value as (s: string) => unknown).call(target, status);
      };
    },
  });
  return { inventory: proxy, listed };
}

/** A `copying` record as far as {@link copyLookDue} reads it. */
const copying = (fields: Partial<InventoryRecord>) =>
  ({ status: 'copying', updatedAt: '2026-03-01T00:00:00.000Z', ...fields }) as InventoryRecord;

describe('when the scheduled sweep looks at a copy', () => {
  const started = '2026-03-01T10:00:00.000Z';
  const at = (minutes: number) => new Date(Date.parse(started) + minutes * 60_000);

  it('leaves a claim to its worker until the lease ends, then looks at every sweep', () => {
    const claim = copying({ copyStartedAt: started, claimedUntil: '2026-03-01T10:03:00.000Z' });
    expect([2, 3, 4, 60].map((m) => copyLookDue(claim, at(m)))).toEqual([false, true, true, true]);
  });

  it('looks at a confirmed copy in the first sweep past 15, 30, 60 and 120 minutes, then every 2 hours', () => {
    const copy = copying({ copyStartedAt: started });
    const minutes = [0, 14, 15, 29, 30, 44, 45, 59, 60, 74, 75, 119, 120, 134, 135, 239, 240, 254, 360];
    expect(minutes.filter((m) => copyLookDue(copy, at(m)))).toEqual([15, 29, 30, 44, 60, 74, 120, 134, 240, 254, 360]);
  });
});

describe('what the scheduled sweep at a time does', () => {
  it('lists each account once in the 24 sweeps of a 6-hour period, and follows up the unfinished copies in the first', () => {
    const accounts = ['222222222222', '333333333333', '444444444444', '555555555555'];
    const sweeps = Array.from({ length: 24 }, (_, i) => scheduledSweep(new Date(Date.UTC(2026, 2, 1, 6, i * 15))));

    for (const account of accounts) expect(sweeps.filter((plan) => plan.takeIn(account))).toHaveLength(1);
    expect(sweeps.map((plan) => plan.available)).toEqual(['unfinished', ...Array<string>(23).fill('none')]);
    // The next period lists them in the same slots: a sweep retried a minute later is still in its slot.
    expect(scheduledSweep(new Date(Date.UTC(2026, 2, 1, 12, 1))).available).toBe('unfinished');
    expect(takeInSlotOf('222222222222')).toBe(takeInSlotOf('222222222222'));
  });

  it('reads every available record in one sweep a day (midnight UTC), and the unfinished ones every 6 hours', () => {
    const day = Array.from({ length: 96 }, (_, i) => scheduledSweep(new Date(Date.UTC(2026, 2, 2, 0, i * 15))));

    const looks = day.flatMap((plan, i) => (plan.available === 'none' ? [] : [[i * 15, plan.available]]));

    expect(looks).toEqual([
      [0, 'all'],
      [360, 'unfinished'],
      [720, 'unfinished'],
      [1080, 'unfinished'],
    ]);
  });
});

describe('the scheduled sweep keeps the backstop guarantees', () => {
  it('settles a copy whose completion event was lost at its first look, and does not describe it before', async () => {
    const v = vaultFixture();
    await v.announce('bunker-share-orders');
    v.clock.advance(COPY_MS);
    const early = await sweepCopies(v.deps, scheduledSweep(v.clock.now()));
    const afterEarly = v.inventory.peek(artifactOf('bunker-share-orders'))?.status;
    v.clock.advance(15 * 60_000 - COPY_MS);

    const due = await sweepCopies(v.deps, scheduledSweep(v.clock.now()));

    expect(early).toMatchObject({ checked: 1, stillCopying: 1, available: 0 });
    expect(afterEarly).toBe('copying');
    expect(due).toMatchObject({ checked: 1, available: 1 });
    expect(v.inventory.peek(artifactOf('bunker-share-orders'))).toMatchObject({
      status: 'available',
      completedAt: '2026-03-01T04:45:00.000Z',
    });
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });

  it('takes over a claim whose worker crashed, at the first sweep after its lease', async () => {
    const v = vaultFixture();
    v.shared('bunker-share-crashed');
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });
    await expect(handleDelivery(delivered(notificationV2('bunker-share-crashed')), v.deps)).rejects.toBeInstanceOf(
      SimulatedFaultError,
    );
    await sweepCopies(v.deps, scheduledSweep(v.clock.now()));
    const withinLease = v.world.copies.length;
    v.clock.advance(3 * 60_000);

    await sweepCopies(v.deps, scheduledSweep(v.clock.now()));

    expect(withinLease).toBe(0);
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([
      'arn:aws:rds:eu-west-1:222222222222:snapshot:bunker-share-crashed',
    ]);
    expect(v.inventory.peek(artifactOf('bunker-share-crashed'))).toMatchObject({ status: 'copying', claimRequests: 2 });
  });

  it('retries a failed copy at the first sweep after its backoff, not before', async () => {
    const v = vaultFixture();
    const arn = v.shared('bunker-share-retried').arn;
    v.inventory.put({
      ...v.waitingSince(arn, '2026-03-01T04:10:00.000Z'),
      status: 'failed',
      failures: 1,
      reason: 'AWS reports the copy as failed; retry 2 of 3 after a backoff',
      nextAttemptAt: '2026-03-01T04:40:00.000Z',
    });

    const before = await sweepCopies(v.deps, scheduledSweep(v.clock.now()));
    v.clock.advance(10 * 60_000);
    const after = await sweepCopies(v.deps, scheduledSweep(v.clock.now()));

    expect(before).toMatchObject({ started: 0 });
    expect(after).toMatchObject({ started: 1 });
    expect(v.inventory.peek(artifactOf('bunker-share-retried'))).toMatchObject({
      status: 'copying',
      targetName: 'bunker-222222222222-retried-6fb26597bf',
    });
  });

  it('fills free slots with waiting copies round-robin over accounts, and reads only the slot counter of a full pool', async () => {
    const v = vaultFixture({ maxCopies: 2, oneDatabaseEach: true });
    const mine = ['a', 'b', 'c'].map((name) => v.shared(`bunker-share-${name}`).arn);
    const theirs = v.shared('bunker-share-x', { account: OTHER }).arn;
    v.inventory.put(v.waitingSince(mine[0], '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(mine[1], '2026-03-01T04:02:00.000Z'));
    v.inventory.put(v.waitingSince(mine[2], '2026-03-01T04:03:00.000Z'));
    v.inventory.put(v.waitingSince(theirs, '2026-03-01T04:04:00.000Z'));

    const filled = await sweepCopies(v.deps, scheduledSweep(v.clock.now()));
    const { inventory, calls } = counted(v.deps.inventory);
    const full = await sweepCopies({ ...v.deps, inventory }, scheduledSweep(v.clock.now()));

    expect(filled).toMatchObject({ started: 2 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([mine[0], theirs]);
    expect(full).toMatchObject({ started: 0, checked: 2, stillCopying: 2 });
    // One listing of the copying records, one of the failed ones, the full pool's counter, and for each pool of the
    // other three kinds its counter and the one query that finds nothing waiting: no waiting record read.
    expect(calls).toEqual({ listByStatus: 2, copiesInProgress: 4, nextWaiting: 3 });
  });

  it('sends a receipt that failed at the next follow-up, read from the queue index, not from a listing of every copy kept', async () => {
    const v = vaultFixture({ oneDatabaseEach: true });
    await v.announce('bunker-share-lost-receipt');
    await v.announce('bunker-share-delivered');
    v.clock.advance(COPY_MS);
    // Down for the first copy's settling write only.
    v.monitor.fail({ port: 'receipts', method: 'send' }, { times: 1 });
    await sweepCopies(v.deps, { ...FULL_SWEEP, available: 'none' });
    const unfinished = (await v.inventory.awaitingFollowUp(POOL)).map((r) => r.artifactId);
    v.clock.advanceTo(Date.parse('2026-03-01T06:00:00.000Z'));
    const { inventory, listed } = listings(v.deps.inventory);

    const swept = await sweepCopies({ ...v.deps, inventory }, scheduledSweep(v.clock.now()));

    expect(unfinished).toEqual([artifactOf('bunker-share-lost-receipt')]);
    expect(v.inventory.peek(artifactOf('bunker-share-delivered'))).toMatchObject({
      status: 'available',
      receiptSentAt: '2026-03-01T04:40:00.000Z',
      finishedAt: '2026-03-01T04:40:00.000Z',
    });
    expect(swept.receiptsResent).toBe(1);
    expect(v.receipts.sent.map((r) => r.id)).toEqual(['bunker-share-delivered', 'bunker-share-lost-receipt']);
    expect(v.inventory.peek(artifactOf('bunker-share-lost-receipt'))).toMatchObject({
      receiptSentAt: '2026-03-01T06:00:00.000Z',
      finishedAt: '2026-03-01T06:00:00.000Z',
    });
    expect(await v.inventory.awaitingFollowUp(POOL)).toEqual([]);
    // The copying and failed records, as at every sweep: no listing of the available ones.
    expect(listed).toEqual(['copying', 'failed']);
  });

  it('writes finished an unfinished copy that owes nothing any more, once, and sends nothing for it', async () => {
    const v = vaultFixture();
    const { artifactId } = await v.announce('bunker-share-orders');
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps, { ...FULL_SWEEP, available: 'none' });
    const settled = v.inventory.peek(artifactId) as InventoryRecord;
    // As a copy whose lock was owed under settings since changed leaves it: in the partition, owing nothing.
    v.inventory.put({ ...settled, finishedAt: undefined });
    v.clock.advanceTo(Date.parse('2026-03-01T06:00:00.000Z'));

    await sweepCopies(v.deps, scheduledSweep(v.clock.now()));
    const finished = v.inventory.peek(artifactId);
    v.clock.advanceTo(Date.parse('2026-03-01T12:00:00.000Z'));
    await sweepCopies(v.deps, scheduledSweep(v.clock.now()));

    expect(finished).toMatchObject({ finishedAt: '2026-03-01T06:00:00.000Z', version: settled.version + 1 });
    expect(v.inventory.peek(artifactId)?.version).toBe(settled.version + 1);
    expect(v.receipts.sent.map((r) => r.id)).toEqual(['bunker-share-orders']);
    expect(await v.inventory.awaitingFollowUp(POOL)).toEqual([]);
  });

  it('finds in the daily look a copy finished before a second Region was set, which the queue index cannot know', async () => {
    const v = vaultFixture({ secondRegion: 'us-east-1' });
    const { artifactId } = await v.announce('bunker-share-orders');
    v.clock.advance(COPY_MS);
    // The second hop's record cannot be written when the copy settles.
    v.monitor.fail({ port: 'inventory', method: 'create' }, { times: 1 });
    await sweepCopies(v.deps, { ...FULL_SWEEP, available: 'none' });
    const settled = v.inventory.peek(artifactId) as InventoryRecord;
    const hop = `${artifactId}@us-east-1`;
    // As a copy settled with no second Region set leaves it: finished, no second hop.
    v.inventory.put({ ...settled, finishedAt: settled.updatedAt });

    v.clock.advanceTo(Date.parse('2026-03-01T18:00:00.000Z'));
    await sweepCopies(v.deps, scheduledSweep(v.clock.now()));
    const afterFollowUp = v.inventory.peek(hop);
    v.clock.advanceTo(Date.parse('2026-03-02T00:00:00.000Z'));
    await sweepCopies(v.deps, scheduledSweep(v.clock.now()));

    expect(settled).toMatchObject({ status: 'available' });
    expect(settled.finishedAt).toBeUndefined();
    expect(afterFollowUp).toBeUndefined();
    expect(v.inventory.peek(hop)).toMatchObject({ hop: 2, pool: 'rds-snapshot@us-east-1' });
    expect(v.inventory.peek(artifactId)?.secondHopAt).toBe('2026-03-02T00:00:00.000Z');
  });

  it("lists a kind's shares in a Region only in its own sweep of the period", async () => {
    const v = vaultFixture();
    v.shared('bunker-share-orders');
    const slot = takeInSlotOf(takeInListingOf('rds-snapshot', 'eu-west-1'));
    const other = new Date(Date.UTC(2026, 2, 1, 6, ((slot + 1) % 24) * 15));
    const own = new Date(Date.UTC(2026, 2, 1, 6, slot * 15));

    const elsewhere = await sweepCopies(v.deps, scheduledSweep(other));
    const inItsSlot = await sweepCopies(v.deps, scheduledSweep(own));

    expect(elsewhere).toMatchObject({ takenIn: 0 });
    expect(inItsSlot).toMatchObject({ takenIn: 1 });
    expect(v.inventory.peek(artifactOf('bunker-share-orders'))?.status).toBe('copying');
  });
});
