/**
 * A pool's batched look at its copies in flight (`lookAtPool`), over the
 * memory AWS: one query of the pool's copies in flight (whichever container
 * requested them) and one describe of them, from an invocation that runs
 * anyway, settles each finished one as its completion event would and
 * refills its slot; a copy still running is left; a look is not repeated
 * within its period (longer for a small pool, which describes only its
 * overdue copies); and the event of a copy a look settled costs no request.
 *
 * The memory AWS's RDS copier has no `describeCopies` of its own: these
 * tests give it one that answers from its `describeCopy` and counts its
 * calls (the double of sim/memory-copier.ts and the SDK adapter are held to
 * the same cases in test/emulator/copy-look-contract.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { handleCopyEvent } from '../../lambdas/core/pipeline/completion';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { lookAtOverdue, lookAtPool, pooledLooks, RingMemory } from '../../lambdas/core/pipeline/schedule';
import { MAX_COPIES_PER_LOOK } from '../../lambdas/kinds/types';
import { newRecord, type InventoryRecord } from '../../lambdas/core/inventory';
import type { CopyView } from '../../lambdas/kinds/types';
import { COPY_MS, delivered, notificationV2, REGION, SOURCE, vaultFixture } from './support/memory-fixtures';

const RDS_EVENT = 'RDS DB Snapshot Event';
const artifactOf = (id: string) => `rds-snapshot:${SOURCE}:${REGION}:${id}`;

/** A vault of `maxCopies` RDS copies at once, one container (its ring) with a look every 30 s, and its looks counted. */
function lookingVault(maxCopies: number, oneDatabaseEach = true) {
  const v = vaultFixture({ maxCopies, oneDatabaseEach });
  const copier = v.deps.copiers['rds-snapshot'];
  const looks: string[][] = [];
  const deps = {
    ...v.deps,
    ring: new RingMemory(30_000),
    copiers: {
      ...v.deps.copiers,
      'rds-snapshot': {
        ...copier,
        describeCopies: async (locations: readonly { targetName: string; targetId?: string }[], region: string) => {
          looks.push(locations.map((l) => l.targetName));
          const found: CopyView[] = [];
          for (const location of locations) {
            const copy = await copier.describeCopy({ ...location, region });
            if (copy) found.push(copy);
          }
          return found;
        },
      },
    },
  };
  const announce = async (id: string) => {
    v.shared(id);
    await handleDelivery(delivered(notificationV2(id, { publishedAt: v.clock.now().toISOString() })), deps);
  };
  const statuses = () => v.inventory.records().map((r) => [r.sourceId, r.status]);
  return { v, deps, looks, announce, statuses };
}

/**
 * A full pool of 20: `a1`, `a2` requested at 04:30, eighteen more at 04:35, `w1` and `w2` waiting; at 04:40 the
 * first two are done (their events not yet delivered) and the eighteen still copying.
 */
async function fullPoolAtTen() {
  const looking = lookingVault(20);
  const { v, announce } = looking;
  await announce('bunker-share-a1');
  await announce('bunker-share-a2');
  v.clock.advance(COPY_MS / 2);
  for (let n = 3; n <= 20; n += 1) await announce(`bunker-share-b${n}`);
  await announce('bunker-share-w1');
  await announce('bunker-share-w2');
  v.clock.advance(COPY_MS / 2);
  return looking;
}

/** What each port method was called, from `before` on, the unchanged left out. */
const callsSince = (v: { monitor: { byMethod: Map<string, number> } }, before: Map<string, number>) =>
  Object.fromEntries(
    [...v.monitor.byMethod].flatMap(([m, n]) => (n === (before.get(m) ?? 0) ? [] : [[m, n - (before.get(m) ?? 0)]])),
  );

const count = (statuses: (string | undefined)[][]) =>
  statuses.reduce<Record<string, number>>(
    (n, [, status]) => ({ ...n, [status ?? '']: (n[status ?? ''] ?? 0) + 1 }),
    {},
  );

describe('the batched look at a pool’s copies in flight (double: describeCopies over the memory describe)', () => {
  it('settles two finished copies with one look of the twenty in flight, refills both slots and leaves the eighteen running', async () => {
    const { v, looks, announce, statuses } = await fullPoolAtTen();
    const before = looks.length;

    await announce('bunker-share-probe');

    expect(looks.length - before).toBe(1);
    expect(looks[looks.length - 1]).toHaveLength(20);
    expect(count(statuses())).toEqual({ available: 2, copying: 20, expected: 1 });
    expect(v.inventory.peek(artifactOf('bunker-share-a1'))).toMatchObject({
      status: 'available',
      completedAt: '2026-03-01T04:40:00.000Z',
    });
    expect(v.inventory.peek(artifactOf('bunker-share-a2'))?.status).toBe('available');
    expect(v.inventory.peek(artifactOf('bunker-share-b3'))?.status).toBe('copying');
    expect(v.inventory.peek(artifactOf('bunker-share-w1'))?.status).toBe('copying');
    expect(v.inventory.peek(artifactOf('bunker-share-w2'))?.status).toBe('copying');
    expect(v.inventory.peek(artifactOf('bunker-share-probe'))?.status).toBe('expected');
  });

  it('does not look at a pool again within 30 seconds of its last look', async () => {
    const { v, looks, announce } = await fullPoolAtTen();
    await announce('bunker-share-look');
    const first = looks.length;
    v.clock.advance(29_999);
    await announce('bunker-share-within');
    const within = looks.length;
    v.clock.advance(1);
    await announce('bunker-share-after');

    expect([within - first, looks.length - within]).toEqual([0, 1]);
  });

  it('knows the copies another container requested: the look reads them from the inventory', async () => {
    const { v, deps, looks } = await fullPoolAtTen();
    const before = looks.length;
    // A cold container of another function: it requested none of the twenty.
    const elsewhere = { ...deps, ring: new RingMemory(30_000) };
    v.shared('bunker-share-probe');
    await handleDelivery(
      delivered(notificationV2('bunker-share-probe', { publishedAt: v.clock.now().toISOString() })),
      elsewhere,
    );

    expect(looks.length - before).toBe(1);
    expect(looks[looks.length - 1]).toHaveLength(20);
    expect(v.inventory.peek(artifactOf('bunker-share-a1'))?.status).toBe('available');
    expect(v.inventory.peek(artifactOf('bunker-share-a2'))?.status).toBe('available');
    expect(v.inventory.peek(artifactOf('bunker-share-w1'))?.status).toBe('copying');
  });

  it('looks at a pool of five eight times less often than a pool of twenty: every 4 minutes at 30 s', async () => {
    const { v, looks, announce } = lookingVault(5);
    const queries = () => v.monitor.byMethod.get('inventory.copiesInFlight') ?? 0;
    for (let n = 1; n <= 6; n += 1) await announce(`bunker-share-s${n}`);
    const first = queries();
    v.clock.advance(239_999);
    await announce('bunker-share-p1');
    const within = queries();
    v.clock.advance(1);
    await announce('bunker-share-p2');

    // The sixth found the pool full and looked: its five copies had just been requested, so it described none.
    // A cold container has learned no copy time: 4 minutes on, a whole look period in flight, it describes the five.
    expect([first, within - first, queries() - within]).toEqual([1, 0, 1]);
    expect(looks).toEqual([
      ['s1', 's2', 's3', 's4', 's5'].map((id) => v.inventory.peek(artifactOf(`bunker-share-${id}`))?.targetName),
    ]);
  });

  it('describes only the copies of a small pool past 1.3 times the time it learned', async () => {
    const { v, deps, looks, announce } = lookingVault(5);
    await announce('bunker-share-s1');
    const first = v.inventory.peek(artifactOf('bunker-share-s1')) as InventoryRecord;
    // Twenty earlier copies of this pool took 10 minutes to their events, whatever their size.
    const now = v.clock.now().getTime();
    for (let n = 0; n < 20; n += 1) {
      deps.ring.copies.started({ ...first, artifactId: `taught-${n}`, sizeGiB: n }, now - COPY_MS);
      deps.ring.copies.ended(`taught-${n}`, now, true);
    }
    for (let n = 2; n <= 6; n += 1) await announce(`bunker-share-s${n}`);
    v.clock.advance(12 * 60_000);
    await announce('bunker-share-early');
    const early = looks.length;
    v.clock.advance(4 * 60_000);
    await announce('bunker-share-late');

    // At 0 and at 12 minutes the five are short of 13 (1.3 times 10): those looks read the pool and describe none.
    expect(early).toBe(0);
    expect(looks).toEqual([
      ['s1', 's2', 's3', 's4', 's5'].map((id) => v.inventory.peek(artifactOf(`bunker-share-${id}`))?.targetName),
    ]);
    expect(v.inventory.peek(artifactOf('bunker-share-s1'))?.status).toBe('available');
  });

  it('answers the later event of a copy a look settled with no request at all', async () => {
    const { v, deps, announce } = await fullPoolAtTen();
    await announce('bunker-share-probe');
    const settled = v.inventory.peek(artifactOf('bunker-share-a1'));
    const calls = new Map(v.monitor.byMethod);

    const outcome = await handleCopyEvent(
      RDS_EVENT,
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: settled?.targetName as string },
      deps,
    );

    expect(settled?.status).toBe('available');
    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: `record ${artifactOf('bunker-share-a1')} was settled by a look`,
    });
    expect([...v.monitor.byMethod].filter(([method, n]) => n !== (calls.get(method) ?? 0))).toEqual([]);
  });
});

describe('a completion event’s look: the event’s copy found among the pool’s copies in flight', () => {
  const POOL = `rds-snapshot@${REGION}`;
  it('settles the event’s copy and the other finished one with one query and one describe, and reads no record', async () => {
    const { v, deps, looks } = await fullPoolAtTen();
    const target = v.inventory.peek(artifactOf('bunker-share-a1'))?.targetName as string;
    const cold = { ...deps, ring: new RingMemory(30_000) };
    const before = new Map(v.monitor.byMethod);
    const looked = looks.length;

    const outcome = await handleCopyEvent(RDS_EVENT, { EventID: 'RDS-EVENT-0197', SourceIdentifier: target }, cold);

    expect(outcome).toEqual({ outcome: 'settled', artifactId: artifactOf('bunker-share-a1'), step: 'available' });
    expect(v.inventory.peek(artifactOf('bunker-share-a2'))?.status).toBe('available');
    // One describe of the twenty in flight, the event's copy among them.
    expect(looks.slice(looked).map((names) => names.length)).toEqual([20]);
    expect(looks[looked]).toContain(target);
    expect(callsSince(v, before)).toMatchObject({ 'inventory.copiesInFlight': 1, 'receipts.send': 2 });
    expect(callsSince(v, before)['inventory.get']).toBeUndefined();
    expect(count(v.inventory.records().map((r) => [r.sourceId, r.status]))).toEqual({ available: 2, copying: 20 });
  });

  it('ignores, after one query, the event of a copy another container settled, when its own look is not due', async () => {
    const { v, deps, announce } = await fullPoolAtTen();
    await announce('bunker-share-probe');
    const target = v.inventory.peek(artifactOf('bunker-share-a1'))?.targetName as string;
    const other = { ...deps, ring: new RingMemory(30_000) };
    other.ring.markLook(POOL, v.clock.now().getTime());
    const before = new Map(v.monitor.byMethod);

    const outcome = await handleCopyEvent(RDS_EVENT, { EventID: 'RDS-EVENT-0197', SourceIdentifier: target }, other);

    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: `${target} is not a copy in flight: settled already, or not Bunker's`,
    });
    expect(callsSince(v, before)).toEqual({ 'inventory.copiesInFlight': 1 });
  });

  it('finds the record from the copy’s tags when the query may not have named every copy in flight', async () => {
    const { v, deps, looks } = await fullPoolAtTen();
    const record = v.inventory.peek(artifactOf('bunker-share-b3')) as InventoryRecord;
    const target = v.inventory.peek(artifactOf('bunker-share-a1'))?.targetName as string;
    // A page of a hundred copies in flight that does not name the event's copy.
    const full = Array.from({ length: MAX_COPIES_PER_LOOK }, (_, n) => ({
      ...record,
      targetName: `other-${n}`,
      targetId: `other-${n}`,
    }));
    const paged = {
      ...deps,
      ring: new RingMemory(30_000),
      inventory: Object.assign(Object.create(deps.inventory) as typeof deps.inventory, {
        copiesInFlight: async () => full,
      }),
    };
    paged.ring.markLook(POOL, v.clock.now().getTime());
    const before = new Map(v.monitor.byMethod);
    const looked = looks.length;

    const outcome = await handleCopyEvent(RDS_EVENT, { EventID: 'RDS-EVENT-0197', SourceIdentifier: target }, paged);

    expect(outcome).toEqual({ outcome: 'settled', artifactId: artifactOf('bunker-share-a1'), step: 'available' });
    expect(callsSince(v, before)).toMatchObject({ 'inventory.get': 1 });
    expect(looks.length).toBe(looked);
  });
});

describe('the overdue watch beside the batched look', () => {
  const POOL = `rds-snapshot@${REGION}`;

  /** A pool of 20 whose container learned that copies take a minute to their event, and one copy it started 15 minutes ago. */
  async function overdueCopy(lookEveryMs: number) {
    const looking = lookingVault(20);
    const deps = { ...looking.deps, ring: new RingMemory(lookEveryMs) };
    for (let n = 1; n <= 20; n += 1) {
      deps.ring.copies.started(
        newRecord(
          { artifactId: `taught-${n}`, kind: 'rds-snapshot', status: 'copying', pool: POOL },
          looking.v.clock.now(),
        ),
        looking.v.clock.now().getTime(),
      );
      deps.ring.copies.ended(`taught-${n}`, looking.v.clock.now().getTime() + 60_000, true);
    }
    looking.v.shared('bunker-share-slow');
    await handleDelivery(delivered(notificationV2('bunker-share-slow')), deps);
    looking.v.clock.advance(15 * 60_000);
    return { ...looking, deps, before: new Map(looking.v.monitor.byMethod) };
  }

  it('reads no record for an overdue copy of a pool the container looks at in batches: its look names it', async () => {
    const { v, deps, before } = await overdueCopy(30_000);

    expect(pooledLooks(deps, POOL)).toBe(true);
    expect(await lookAtOverdue(deps, POOL)).toBeUndefined();
    expect(callsSince(v, before)).toEqual({});
    expect(v.inventory.peek(artifactOf('bunker-share-slow'))?.status).toBe('copying');
  });

  it('reads and settles the overdue copy when its container does not look at the pool in batches', async () => {
    const { v, deps, before } = await overdueCopy(0);

    expect(pooledLooks(deps, POOL)).toBe(false);
    expect((await lookAtOverdue(deps, POOL))?.step).toBe('available');
    expect(callsSince(v, before)).toMatchObject({ 'inventory.get': 1 });
    expect(v.inventory.peek(artifactOf('bunker-share-slow'))?.status).toBe('available');
  });

  it('tells a cold container which DB instances hold a slot: its next snapshot of one waits with no refused claim', async () => {
    // Every snapshot is of orders-db; Monday's copy was requested by another container.
    const { v, deps, announce } = lookingVault(20, false);
    await announce('bunker-share-monday');
    const claims = () => v.monitor.byMethod.get('inventory.claimCopy') ?? 0;
    const deliver = (id: string, container: typeof deps) => {
      v.shared(id);
      return handleDelivery(delivered(notificationV2(id, { publishedAt: v.clock.now().toISOString() })), container);
    };
    const looked = { ...deps, ring: new RingMemory(30_000) };
    const unlooked = { ...deps, ring: new RingMemory(30_000) };
    v.clock.advance(10_000);
    await lookAtPool(looked, POOL);
    const before = claims();
    await deliver('bunker-share-tuesday', looked);
    const afterLooked = claims();
    await deliver('bunker-share-wednesday', unlooked);

    expect([afterLooked - before, claims() - afterLooked]).toEqual([0, 1]);
    expect(v.inventory.records().map((r) => [r.sourceId, r.status])).toEqual([
      ['bunker-share-monday', 'copying'],
      ['bunker-share-tuesday', 'expected'],
      ['bunker-share-wednesday', 'expected'],
    ]);
  });

  it('forgets a busy DB instance its next look no longer names: the copy ended in another container', async () => {
    const { v, deps, announce } = lookingVault(20, false);
    await announce('bunker-share-monday');
    const monday = v.inventory.peek(artifactOf('bunker-share-monday'));
    const looked = { ...deps, ring: new RingMemory(30_000) };
    const elsewhere = { ...deps, ring: new RingMemory(30_000) };
    // 20 s before Monday's copy ends, this container's look names it; then the copy ends and another container
    // settles it; this container's next look, 30 s after its first and within the minute, names nothing.
    v.clock.advance(COPY_MS - 20_000);
    await lookAtPool(looked, POOL);
    v.clock.advance(20_000);
    await handleCopyEvent(
      RDS_EVENT,
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: monday?.targetName as string },
      elsewhere,
    );
    v.clock.advance(10_000);
    await lookAtPool(looked, POOL);
    const before = v.monitor.byMethod.get('inventory.claimCopy') ?? 0;
    v.shared('bunker-share-tuesday');
    await handleDelivery(
      delivered(notificationV2('bunker-share-tuesday', { publishedAt: v.clock.now().toISOString() })),
      looked,
    );

    expect((v.monitor.byMethod.get('inventory.claimCopy') ?? 0) - before).toBe(1);
    expect(v.inventory.records().map((r) => [r.sourceId, r.status])).toEqual([
      ['bunker-share-monday', 'available'],
      ['bunker-share-tuesday', 'copying'],
    ]);
  });

  it('is kept for a pool whose copier describes one copy at a time, or whose limit one query cannot name', () => {
    const { deps } = lookingVault(20);
    const single = { ...deps.copiers['rds-snapshot'], describeCopies: undefined };
    const unbatched = { ...deps, copiers: { ...deps.copiers, 'rds-snapshot': single } };
    const wide = {
      ...deps,
      settings: {
        ...deps.settings,
        kinds: {
          ...deps.settings.kinds,
          'rds-snapshot': { ...deps.settings.kinds['rds-snapshot'], copyLimit: MAX_COPIES_PER_LOOK + 1 },
        },
      },
    };

    expect(pooledLooks(deps, POOL)).toBe(true);
    expect(pooledLooks(unbatched, POOL)).toBe(false);
    expect(pooledLooks(wide, POOL)).toBe(false);
    expect(pooledLooks(deps, `ebs-snapshot@${REGION}`)).toBe(false);
  });
});
