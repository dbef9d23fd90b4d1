/**
 * The RDS source agent's event path at fleet scale: a burst of snapshot
 * events lists the account once, not once per event; a copy started needs
 * no describe before or after it; and an intermediate copy deferred on
 * RDS's copy quota starts when another copy finishes (RDS-EVENT-0197), not
 * at the next hourly sweep.
 */
import { describe, expect, it } from 'vitest';
import { intermediateSnapshotId } from '../../lambdas/core/names';
import { processSnapshot } from '../../lambdas/core/rds-source-agent';
import { agentFixture, COPY_MS, IN_SCOPE, REGION, SOURCE } from './support/memory-fixtures';

const calls = (a: ReturnType<typeof agentFixture>, method: string) =>
  a.monitor.byMethod.get(`source-rds.${method}`) ?? 0;

describe('source agent events', () => {
  it('lists the account once for a burst of five snapshot events, and makes one describe and one copy per snapshot', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    const ids = ['orders-1', 'orders-2', 'orders-3', 'orders-4', 'orders-5'];
    for (const id of ids) a.snapshot(id);

    const steps = [];
    for (const id of ids) steps.push(await processSnapshot(id, a.deps));

    expect(steps).toEqual(['rekeying', 'rekeying', 'rekeying', 'rekeying', 'rekeying']);
    expect(calls(a, 'listSnapshots')).toBe(1);
    expect(calls(a, 'describeSnapshot')).toBe(5);
    expect(calls(a, 'copySnapshot')).toBe(5);
    expect(a.world.copies.map((c) => c.targetId)).toEqual(ids.map((id) => intermediateSnapshotId(id)));
  });

  it('counts its own copies against the cap between listings: the sixth of five allowed waits for room', async () => {
    const a = agentFixture({ maxIntermediates: 5 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    const ids = ['orders-1', 'orders-2', 'orders-3', 'orders-4', 'orders-5', 'orders-6'];
    for (const id of ids) a.snapshot(id);

    const steps = [];
    for (const id of ids) steps.push(await processSnapshot(id, a.deps));

    expect(steps.slice(4)).toEqual(['rekeying', 'waiting-for-room']);
    expect(calls(a, 'listSnapshots')).toBe(1);
    expect(a.world.copies).toHaveLength(5);
  });

  it('starts a copy deferred on the RDS copy quota when an intermediate copy finishes, without a sweep', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    a.snapshot('orders-2');
    a.world.setCopyQuota(SOURCE, REGION, 1);

    const first = await processSnapshot('orders-1', a.deps);
    const second = await processSnapshot('orders-2', a.deps);
    const copiesWhileFull = a.world.copies.length;
    a.clock.advance(COPY_MS);
    // RDS-EVENT-0197 names the finished copy: the intermediate of orders-1.
    const finished = await processSnapshot(intermediateSnapshotId('orders-1'), a.deps);

    expect([first, second, finished]).toEqual(['rekeying', 'waiting-for-quota', 'notified']);
    expect(copiesWhileFull).toBe(1);
    expect(a.world.copies.map((c) => c.targetId)).toEqual([
      intermediateSnapshotId('orders-1'),
      intermediateSnapshotId('orders-2'),
    ]);
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : n.snapshotArn))).toEqual([
      intermediateSnapshotId('orders-1'),
    ]);
  });
});
