/**
 * The RDS source agent's cap on intermediates at the speed of the vault: the
 * cap counts only intermediates the vault has not confirmed, a receipt that
 * frees room starts a deferred original in the same invocation, nothing is
 * asked while the cap is full, a lost "copy finished" event is caught by the
 * next count rather than the hourly sweep, and a confirmed intermediate goes
 * when its retention ends, at the next event.
 */
import { describe, expect, it } from 'vitest';
import { intermediateSnapshotId } from '../../lambdas/core/names';
import { processSnapshot, recordReceipt, sweepSource } from '../../lambdas/core/rds-source-agent';
import type { Receipt } from '../../lambdas/core/receipts';
import { agentFixture, COPY_MS, IN_SCOPE, REGION, SOURCE } from './support/memory-fixtures';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const receiptFor = (id: string, at: Date): Receipt => ({
  version: 1,
  kind: 'rds-snapshot',
  account: SOURCE,
  region: REGION,
  id,
  copiedAt: at.toISOString(),
});

/** Port calls of the agent by `source-rds.<method>`, from now on. */
function callsFrom(a: ReturnType<typeof agentFixture>) {
  const before = new Map(a.monitor.byMethod);
  return () =>
    Object.fromEntries(
      [...a.monitor.byMethod]
        .map(([method, n]) => [method, n - (before.get(method) ?? 0)] as const)
        .filter(([, n]) => n > 0)
        .sort(([x], [y]) => x.localeCompare(y)),
    );
}

/** Two announced intermediates under a cap of two, and a third original deferred. */
async function atTheCap() {
  const a = agentFixture({ maxIntermediates: 2, retentionHours: 1 });
  a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
  for (const id of ['orders-1', 'orders-2', 'orders-3']) a.snapshot(id);
  await processSnapshot('orders-1', a.deps);
  await processSnapshot('orders-2', a.deps);
  const deferred = await processSnapshot('orders-3', a.deps);
  return { a, deferred };
}

describe('the source agent at its cap', () => {
  it('starts an original deferred at the cap in the invocation of the receipt that frees room', async () => {
    const { a, deferred } = await atTheCap();
    a.clock.advance(COPY_MS);
    await processSnapshot(intermediateSnapshotId('orders-1'), a.deps);
    const calls = callsFrom(a);

    const step = await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), a.deps);

    expect(deferred).toBe('waiting-for-room');
    expect(step).toBe('recorded');
    expect(a.world.copies.map((c) => c.targetId)).toEqual([
      intermediateSnapshotId('orders-1'),
      intermediateSnapshotId('orders-2'),
      intermediateSnapshotId('orders-3'),
    ]);
    // The receipt: describe the intermediate, tag the original and the intermediate; then the deferred copy,
    // with no describe of the original, and its scope read now (held back at the cap unjudged); one count, the
    // last being 10 minutes old.
    expect(calls()).toEqual({
      'source-rds.copySnapshot': 1,
      'source-rds.describeSnapshot': 1,
      'source-rds.instanceTags': 1,
      'source-rds.listSnapshots': 1,
      'source-rds.tag': 2,
    });
  });

  it('holds an original back at the cap without reading its scope, and reads it once, where it starts', async () => {
    const a = agentFixture({ maxIntermediates: 1, retentionHours: 1 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.world.addInstance(SOURCE, REGION, 'scratch-db', { backup: 'none' });
    a.snapshot('orders-1');
    a.snapshot('orders-2');
    a.snapshot('scratch-1', 'scratch-db');
    await processSnapshot('orders-1', a.deps);
    const reads = () => a.monitor.byMethod.get('source-rds.instanceTags') ?? 0;
    const before = reads();
    const held = [await processSnapshot('orders-2', a.deps), await processSnapshot('scratch-1', a.deps)];
    const atTheCapReads = reads() - before;
    a.clock.advance(COPY_MS);
    await processSnapshot(intermediateSnapshotId('orders-1'), a.deps);
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), a.deps);

    expect(held).toEqual(['waiting-for-room', 'waiting-for-room']);
    expect(atTheCapReads).toBe(0);
    // The receipt's room goes to orders-2 (released first: the same size and age, held back first): judged in
    // scope, one read, and copied; scratch-1, out of scope, is not read while there is no room for it.
    expect(reads() - before).toBe(1);
    expect(a.world.copies.map((c) => c.targetId)).toEqual([
      intermediateSnapshotId('orders-1'),
      intermediateSnapshotId('orders-2'),
    ]);
  });

  it('makes no request about a deferred original while the cap stays full, even when copies finish', async () => {
    const { a } = await atTheCap();
    a.clock.advance(COPY_MS);
    const calls = callsFrom(a);

    const finished = [
      await processSnapshot(intermediateSnapshotId('orders-1'), a.deps),
      await processSnapshot(intermediateSnapshotId('orders-2'), a.deps),
    ];

    expect(finished).toEqual(['notified', 'notified']);
    expect(a.world.copies).toHaveLength(2);
    expect(a.intermediateOf('orders-3')).toBeUndefined();
    // Each finished copy: describe it, share it, announce it, tag it. Nothing about orders-3, and no count:
    // a finished copy frees no room under the cap.
    expect(calls()).toEqual({
      'publisher.publish': 2,
      'source-rds.describeSnapshot': 2,
      'source-rds.share': 2,
      'source-rds.tag': 2,
    });
  });

  it('counts only intermediates the vault has not confirmed: a confirmed one kept for its retention leaves room', async () => {
    const a = agentFixture({ maxIntermediates: 1, retentionHours: 24 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    await a.announce('orders-1');
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), a.deps);
    a.snapshot('orders-2');

    const step = await processSnapshot('orders-2', a.deps);

    expect(step).toBe('rekeying');
    expect(a.intermediateOf('orders-1')).toBeDefined();
    expect(a.intermediateOf('orders-2')).toBeDefined();
  });

  it('announces an intermediate whose "copy finished" event was lost at the next count but one, not at the hourly sweep', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    for (const id of ['orders-1', 'orders-2', 'orders-3']) a.snapshot(id);
    await processSnapshot('orders-1', a.deps);
    // orders-1's intermediate finishes; its event is lost.
    a.clock.advance(COPY_MS);
    // A count sees it unannounced: its event may only be late.
    await processSnapshot('orders-2', a.deps);
    const early = a.publisher.published.length;
    a.clock.advance(6 * MINUTE);

    await processSnapshot('orders-3', a.deps);

    expect(early).toBe(0);
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined))).toEqual([
      intermediateSnapshotId('orders-1'),
    ]);
  });

  it('deletes a confirmed intermediate when its retention ends, at the next event rather than the next sweep', async () => {
    const a = agentFixture({ retentionHours: 1 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    await a.announce('orders-1');
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), a.deps);
    a.snapshot('orders-2');
    await processSnapshot('orders-2', a.deps);
    const keptWithinRetention = a.world.deletions.length;
    a.clock.advance(HOUR);
    a.snapshot('orders-3');

    await processSnapshot('orders-3', a.deps);

    expect(keptWithinRetention).toBe(0);
    expect(a.world.deletions.map((d) => d.snapshotId)).toEqual([intermediateSnapshotId('orders-1')]);
    expect(a.intermediateOf('orders-1')).toBeUndefined();
  });

  it('tags the original backed up without reading it first, and still records a receipt whose original is gone', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    a.snapshot('orders-2');
    await a.announce('orders-1');
    await a.announce('orders-2');
    await a.world.sourceRds(SOURCE, REGION).deleteSnapshot('orders-2');
    const calls = callsFrom(a);

    const steps = [
      await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), a.deps),
      await recordReceipt(receiptFor(intermediateSnapshotId('orders-2'), a.clock.now()), a.deps),
    ];

    expect(steps).toEqual(['recorded', 'recorded']);
    expect(a.world.snapshot(SOURCE, REGION, 'orders-1')?.tags['bunker:backed-up-at']).toBe(a.clock.now().toISOString());
    expect(calls()['source-rds.describeSnapshot']).toBe(3);
  });

  it('reads no scope for the originals a sweep finds while the cap is full, and judges them when a receipt frees room', async () => {
    const a = agentFixture({ maxIntermediates: 1 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.world.addInstance(SOURCE, REGION, 'billing-db', IN_SCOPE);
    a.snapshot('orders-1');
    await a.announce('orders-1');
    // Their events were lost.
    a.snapshot('orders-2');
    a.snapshot('billing-1', 'billing-db');
    const calls = callsFrom(a);

    const sweep = await sweepSource(a.deps);
    const atTheCap = calls();
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), a.deps);

    expect(sweep.steps).toEqual({ 'already-notified': 1, 'waiting-for-room': 2 });
    expect(atTheCap).toEqual({ 'source-rds.listSnapshots': 1 });
    // One room: the first of the two in the listing's order.
    expect(a.world.copies.map((c) => c.targetId)).toEqual([
      intermediateSnapshotId('orders-1'),
      intermediateSnapshotId('billing-1'),
    ]);
    expect(calls()['source-rds.instanceTags']).toBe(1);
  });
});
