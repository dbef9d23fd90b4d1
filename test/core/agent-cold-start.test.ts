/**
 * The RDS source agent after a crash or in a new execution environment:
 * what one environment remembered (the originals it held back at the cap,
 * its count, the unannounced intermediates it saw) is found again from
 * AWS's own state, in minutes, not at the hourly sweep; and Lambda's retry
 * of a crashed invocation redoes its step without a second copy.
 */
import { describe, expect, it } from 'vitest';
import { AgentMemory, TAG_BACKLOG } from '../../lambdas/core/agent/memory';
import { intermediateSnapshotId } from '../../lambdas/core/names';
import { type AgentDeps, processSnapshot, recordReceipt } from '../../lambdas/core/rds-source-agent';
import type { Receipt } from '../../lambdas/core/receipts';
import { agentFixture, COPY_MS, IN_SCOPE, REGION, SOURCE } from './support/memory-fixtures';

const MINUTE = 60_000;

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

/** The deps as a new execution environment sees them: nothing remembered. */
const fresh = (deps: AgentDeps): AgentDeps => ({ ...deps, memory: new AgentMemory() });

/** `deps` whose process dies right after `method` took effect: the caller never hears the answer. */
function crashingAfter(deps: AgentDeps, method: 'copySnapshot' | 'listSnapshots'): AgentDeps {
  const rds = new Proxy(deps.rds, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== method || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        throw new Error(`crashed after ${method}`);
      };
    },
  });
  return { ...fresh(deps), rds };
}

/**
 * Cap 2: one environment makes orders-1's and orders-2's intermediates and
 * holds orders-3 back; then it is gone (crashed, or reclaimed idle), with
 * what it held. The copies finish and are announced elsewhere.
 */
async function heldBackByALostEnvironment() {
  const a = agentFixture({ maxIntermediates: 2 });
  a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
  for (const id of ['orders-1', 'orders-2', 'orders-3']) a.snapshot(id);
  const lost = fresh(a.deps);
  await processSnapshot('orders-1', lost);
  await processSnapshot('orders-2', lost);
  const held = await processSnapshot('orders-3', lost);
  a.clock.advance(COPY_MS);
  for (const id of ['orders-1', 'orders-2']) await processSnapshot(intermediateSnapshotId(id), fresh(a.deps));
  return { a, held };
}

describe('the RDS agent without its memory', () => {
  it('makes no second intermediate when Lambda retries, in a new environment, an event that crashed after the copy', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');

    const crashed = processSnapshot('orders-1', crashingAfter(a.deps, 'copySnapshot'));
    await expect(crashed).rejects.toThrow('crashed after copySnapshot');
    const retried = await processSnapshot('orders-1', fresh(a.deps));
    a.clock.advance(COPY_MS);
    const finished = await processSnapshot(intermediateSnapshotId('orders-1'), fresh(a.deps));

    expect([retried, finished]).toEqual(['rekeying', 'notified']);
    expect(a.world.copies.map((c) => c.targetId)).toEqual([intermediateSnapshotId('orders-1')]);
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined))).toEqual([
      intermediateSnapshotId('orders-1'),
    ]);
  });

  it('marks the intermediate that fills the cap as made in a backlog, and only that one of the first two', async () => {
    const { a, held } = await heldBackByALostEnvironment();

    expect(held).toBe('waiting-for-room');
    expect(a.intermediateOf('orders-1')?.tags[TAG_BACKLOG]).toBeUndefined();
    expect(a.intermediateOf('orders-2')?.tags[TAG_BACKLOG]).toBe('true');
  });

  it('starts an original a lost environment held back at the cap when a receipt reaches a new environment, without the sweep', async () => {
    const { a } = await heldBackByALostEnvironment();
    const calls = callsFrom(a);

    const step = await recordReceipt(receiptFor(intermediateSnapshotId('orders-2'), a.clock.now()), fresh(a.deps));

    expect(step).toBe('recorded');
    expect(a.world.copies.map((c) => c.targetId)).toEqual([
      intermediateSnapshotId('orders-1'),
      intermediateSnapshotId('orders-2'),
      intermediateSnapshotId('orders-3'),
    ]);
    // The receipt (describe, two tags); the intermediate says it was made in a backlog, so one count, which
    // shows orders-3 with no intermediate and room for it; its scope judged afresh; its copy. Made from the
    // backlog itself, its intermediate says so too.
    expect(calls()).toEqual({
      'source-rds.copySnapshot': 1,
      'source-rds.describeSnapshot': 1,
      'source-rds.instanceTags': 1,
      'source-rds.listSnapshots': 1,
      'source-rds.tag': 2,
    });
    expect(a.intermediateOf('orders-3')?.tags[TAG_BACKLOG]).toBe('true');
  });

  it('makes no count for a receipt in a new environment when its intermediate was made with room to spare', async () => {
    const { a } = await heldBackByALostEnvironment();
    const calls = callsFrom(a);

    const step = await recordReceipt(receiptFor(intermediateSnapshotId('orders-1'), a.clock.now()), fresh(a.deps));

    expect(step).toBe('recorded');
    expect(calls()).toEqual({ 'source-rds.describeSnapshot': 1, 'source-rds.tag': 2 });
    expect(a.intermediateOf('orders-3')).toBeUndefined();
  });

  it('starts what a lost environment held back at the receipt, in a new environment, of any intermediate made with more than half the cap taken', async () => {
    // Cap 4: the lost environment makes four intermediates and holds orders-5 back. The receipt that comes first is
    // orders-3's, which did not fill the cap: with it, three of four await the vault.
    const a = agentFixture({ maxIntermediates: 4 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    const ids = ['orders-1', 'orders-2', 'orders-3', 'orders-4', 'orders-5'];
    for (const id of ids) a.snapshot(id);
    const lost = fresh(a.deps);
    const steps = [];
    for (const id of ids) steps.push(await processSnapshot(id, lost));
    a.clock.advance(COPY_MS);
    const calls = callsFrom(a);

    const step = await recordReceipt(receiptFor(intermediateSnapshotId('orders-3'), a.clock.now()), fresh(a.deps));

    expect(steps).toEqual(['rekeying', 'rekeying', 'rekeying', 'rekeying', 'waiting-for-room']);
    expect(
      ['orders-1', 'orders-2', 'orders-3', 'orders-4'].map((id) => a.intermediateOf(id)?.tags[TAG_BACKLOG]),
    ).toEqual([undefined, undefined, 'busy', 'true']);
    expect(step).toBe('recorded');
    expect(a.world.copies.map((c) => c.targetId)).toContain(intermediateSnapshotId('orders-5'));
    expect(calls()).toMatchObject({ 'source-rds.listSnapshots': 1, 'source-rds.copySnapshot': 1 });
  });

  it('still starts what waits when SQS redelivers a receipt whose handler crashed after recording it', async () => {
    const { a } = await heldBackByALostEnvironment();
    const receipt = receiptFor(intermediateSnapshotId('orders-2'), a.clock.now());

    const crashed = recordReceipt(receipt, crashingAfter(a.deps, 'listSnapshots'));
    await expect(crashed).rejects.toThrow('crashed after listSnapshots');
    const again = await recordReceipt(receipt, fresh(a.deps));

    expect(again).toBe('already-recorded');
    expect(a.world.copies.map((c) => c.targetId)).toContain(intermediateSnapshotId('orders-3'));
  });

  it('announces at its first count an intermediate finished long ago whose "copy finished" event was lost', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    await processSnapshot('orders-1', a.deps);
    // Its copy finished 30 minutes ago; the event was lost, and the environment that made it is gone.
    a.clock.advance(COPY_MS + 30 * MINUTE);
    a.snapshot('orders-2');

    await processSnapshot('orders-2', fresh(a.deps));

    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined))).toEqual([
      intermediateSnapshotId('orders-1'),
    ]);
  });

  it('leaves a just-finished unannounced intermediate to its own event at a first count', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    await processSnapshot('orders-1', a.deps);
    a.clock.advance(COPY_MS);
    a.snapshot('orders-2');

    await processSnapshot('orders-2', fresh(a.deps));

    expect(a.publisher.published).toEqual([]);
  });

  it('starts, at a production event with room, an original whose own event was lost minutes ago', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    // orders-1's event was lost; orders-2 is taken 10 minutes later.
    a.snapshot('orders-1');
    a.clock.advance(10 * MINUTE);
    a.snapshot('orders-2');

    const step = await processSnapshot('orders-2', fresh(a.deps));

    expect(step).toBe('rekeying');
    expect(a.world.copies.map((c) => c.targetId)).toEqual([
      intermediateSnapshotId('orders-2'),
      intermediateSnapshotId('orders-1'),
    ]);
  });
});
