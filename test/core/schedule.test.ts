/**
 * Scheduling at the quota bound, over the memory AWS: a slot freed by a
 * completion starts the next copy in the same invocation, the next copy is
 * chosen round-robin over source accounts, a source resource holds one slot
 * at most, and a claim whose worker crashed before requesting its copy is
 * taken over once its lease ends, without a sweep.
 */
import { describe, expect, it } from 'vitest';
import { handleCopyEvent } from '../../lambdas/core/pipeline/completion';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { fairOrder, RingMemory } from '../../lambdas/core/pipeline/schedule';
import { startCopy } from '../../lambdas/core/pipeline/copy';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { SimulatedFaultError } from '../../sim/memory-aws';
import {
  BACKUP,
  COPY_MS,
  delivered,
  notificationV2,
  OTHER,
  REGION,
  SOURCE,
  type VaultFixture,
  vaultFixture,
} from './support/memory-fixtures';

const POOL = 'rds-snapshot@eu-west-1';
const RDS_EVENT = 'RDS DB Snapshot Event';
const artifactOf = (id: string, account = SOURCE) => `rds-snapshot:${account}:${REGION}:${id}`;

/** Lets AWS finish every copy in progress and delivers each one's event, oldest first. */
async function finishCopies(v: VaultFixture): Promise<void> {
  v.clock.advance(COPY_MS);
  const running = v.inventory.records().filter((r) => r.status === 'copying');
  for (const record of running) {
    await handleCopyEvent(
      RDS_EVENT,
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: record.targetName as string },
      v.deps,
    );
  }
}

/** Shares `id` and delivers its notification to intake with `deps` (one container); answers the claims so far. */
async function announce(v: VaultFixture, deps: VaultFixture['deps'], id: string): Promise<number> {
  v.shared(id);
  await handleDelivery(delivered(notificationV2(id, { publishedAt: v.clock.now().toISOString() })), deps);
  return v.monitor.byMethod.get('inventory.claimCopy') ?? 0;
}

/** The source snapshot ids of the copies AWS was asked for, in order. */
const copied = (v: VaultFixture) => v.world.copies.map((c) => c.sourceArn.split(':snapshot:')[1]);

describe('scheduling copies at the quota bound', () => {
  it('starts the next waiting copy when a copy completes, in the completion event, without a sweep', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    await v.announce('bunker-share-first');
    const second = await v.announce('bunker-share-second');
    const waiting = v.inventory.peek(second.artifactId);

    v.clock.advance(COPY_MS);
    const first = v.inventory.peek(artifactOf('bunker-share-first'));
    const outcome = await handleCopyEvent(
      RDS_EVENT,
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: first?.targetName as string },
      v.deps,
    );

    expect(waiting).toMatchObject({ status: 'expected' });
    expect(outcome).toEqual({
      outcome: 'settled',
      artifactId: artifactOf('bunker-share-first'),
      step: 'available',
    });
    expect(copied(v)).toEqual(['bunker-share-first', 'bunker-share-second']);
    expect(v.inventory.peek(second.artifactId)).toMatchObject({ status: 'copying', copyAttempts: 1 });
    expect(await v.inventory.copiesInProgress(POOL)).toBe(1);
  });

  it('gives freed slots to source accounts in turn, not to the account that queued the most', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    await v.announce('bunker-share-running');
    const flood = ['s1', 's2', 's3', 's4'].map((n) => v.shared(`bunker-share-${n}`).arn);
    const few = ['o1', 'o2'].map((n) => v.shared(`bunker-share-${n}`, { account: OTHER }).arn);
    // The flooding account queued everything first.
    flood.forEach((arn, i) => v.inventory.put(v.waitingSince(arn, `2026-03-01T04:0${i + 1}:00.000Z`)));
    few.forEach((arn, i) => v.inventory.put(v.waitingSince(arn, `2026-03-01T04:2${i + 1}:00.000Z`)));

    for (let copy = 0; copy < 6; copy += 1) await finishCopies(v);

    expect(copied(v)).toEqual([
      'bunker-share-running',
      'bunker-share-o1',
      'bunker-share-s1',
      'bunker-share-o2',
      'bunker-share-s2',
      'bunker-share-s3',
      'bunker-share-s4',
    ]);
    expect(v.world.maxCopiesInProgress(BACKUP, REGION)).toBe(1);
  });

  it('orders a sweep round-robin over accounts, oldest first within each', () => {
    const v = vaultFixture();
    const at = (minute: number) => `2026-03-01T04:${String(minute).padStart(2, '0')}:00.000Z`;
    const records = [
      v.waitingSince(`arn:aws:rds:${REGION}:${SOURCE}:snapshot:bunker-share-s2`, at(2)),
      v.waitingSince(`arn:aws:rds:${REGION}:${OTHER}:snapshot:bunker-share-o1`, at(9)),
      v.waitingSince(`arn:aws:rds:${REGION}:${SOURCE}:snapshot:bunker-share-s1`, at(1)),
      v.waitingSince(`arn:aws:rds:${REGION}:${SOURCE}:snapshot:bunker-share-s3`, at(3)),
    ];

    expect(fairOrder(records).map((r) => r.sourceId)).toEqual([
      'bunker-share-s1',
      'bunker-share-o1',
      'bunker-share-s2',
      'bunker-share-s3',
    ]);
  });

  it('lets copies of one DB instance hold one slot between them: the second waits, then starts when the first completes', async () => {
    const v = vaultFixture({ maxCopies: 5 });
    await v.announce('bunker-share-monday');
    const tuesday = await v.announce('bunker-share-tuesday');
    const waiting = v.inventory.peek(tuesday.artifactId);
    const slots = await v.inventory.copiesInProgress(POOL);

    await finishCopies(v);

    expect(waiting).toMatchObject({
      status: 'expected',
      reason:
        'waiting for the copy of another snapshot of DB instance orders-db to finish: AWS copies them one after another',
    });
    expect(slots).toBe(1);
    expect(copied(v)).toEqual(['bunker-share-monday', 'bunker-share-tuesday']);
    expect(v.inventory.peek(tuesday.artifactId)).toMatchObject({ status: 'copying' });
    expect(v.world.maxCopiesInProgress(BACKUP, REGION)).toBe(1);
  });

  it('walks past a record whose DB instance is busy to the next account with a copy waiting', async () => {
    const v = vaultFixture({ maxCopies: 2 });
    await v.announce('bunker-share-monday');
    v.shared('bunker-share-x', { account: OTHER });
    await handleDelivery(delivered(notificationV2('bunker-share-x', { sourceAccount: OTHER }), OTHER), v.deps);
    const tuesday = v.shared('bunker-share-tuesday').arn;
    const y = v.shared('bunker-share-y', { account: OTHER }).arn;
    v.inventory.put(v.waitingSince(tuesday, '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(y, '2026-03-01T04:02:00.000Z'));

    v.clock.advance(COPY_MS);
    const x = v.inventory.peek(artifactOf('bunker-share-x', OTHER));
    await handleCopyEvent(RDS_EVENT, { EventID: 'RDS-EVENT-0197', SourceIdentifier: x?.targetName as string }, v.deps);

    expect(copied(v)).toEqual(['bunker-share-monday', 'bunker-share-x', 'bunker-share-y']);
    expect(v.inventory.peek(artifactOf('bunker-share-tuesday'))).toMatchObject({
      status: 'expected',
      reason:
        'waiting for the copy of another snapshot of DB instance orders-db to finish: AWS copies them one after another',
    });
    expect(await v.inventory.copiesInProgress(POOL)).toBe(2);
  });

  it('takes over a claim whose worker crashed between claim and copy once its lease ends, not at the sweep', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    v.shared('bunker-share-crashed');
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });
    await expect(handleDelivery(delivered(notificationV2('bunker-share-crashed')), v.deps)).rejects.toBeInstanceOf(
      SimulatedFaultError,
    );
    const crashed = v.inventory.peek(artifactOf('bunker-share-crashed'));

    // Within the lease the claim is its worker's: a newcomer waits and takes nothing over. (Both newcomers are
    // among the one claim in eight, by id, that looks for an expired claim when its pool is full.)
    v.clock.advance(3 * 60_000 - 1);
    await v.announce('bunker-share-tenth');
    const withinLease = copied(v);
    v.clock.advance(1);
    await v.announce('bunker-share-next');

    expect(crashed).toMatchObject({
      status: 'copying',
      claimedUntil: '2026-03-01T04:33:00.000Z',
      copyAttempts: 1,
    });
    expect(withinLease).toEqual([]);
    expect(copied(v)).toEqual(['bunker-share-crashed']);
    expect(v.inventory.peek(artifactOf('bunker-share-crashed'))).toMatchObject({
      status: 'copying',
      copyAttempts: 2,
      claimRequests: 2,
    });
    expect(v.inventory.peek(artifactOf('bunker-share-crashed'))?.claimedUntil).toBeUndefined();
    expect(v.inventory.peek(artifactOf('bunker-share-next'))?.status).toBe('expected');
    expect(await v.inventory.copiesInProgress(POOL)).toBe(1);
  });

  it('looks for an expired claim from one refused claim in eight, chosen by the artifact id', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    v.shared('bunker-share-crashed');
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });
    await expect(handleDelivery(delivered(notificationV2('bunker-share-crashed')), v.deps)).rejects.toBeInstanceOf(
      SimulatedFaultError,
    );
    v.clock.advance(3 * 60_000);

    // Past the lease: a newcomer not among the chosen leaves the claim to the next chosen one (or the sweep).
    await v.announce('bunker-share-late');
    const afterUnchosen = copied(v);
    await v.announce('bunker-share-eighth');

    expect(afterUnchosen).toEqual([]);
    expect(copied(v)).toEqual(['bunker-share-crashed']);
    expect(v.inventory.peek(artifactOf('bunker-share-late'))?.status).toBe('expected');
    expect(v.inventory.peek(artifactOf('bunker-share-eighth'))?.status).toBe('expected');
  });

  it('records an artifact that reaches a pool this container saw full within a minute as waiting, with no refused claim', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    const deps = { ...v.deps, ring: new RingMemory() };
    const claimsAfter = (id: string) => announce(v, deps, id);
    const claims = [await claimsAfter('bunker-share-first'), await claimsAfter('bunker-share-refused')];
    v.clock.advance(59_999);
    claims.push(await claimsAfter('bunker-share-hinted'));
    v.clock.advance(1);
    claims.push(await claimsAfter('bunker-share-after-the-minute'));

    // One claim that took the slot, one refused; none within the minute; one refused again after it.
    expect(claims).toEqual([1, 2, 2, 3]);
    expect(v.inventory.records().map((r) => [r.sourceId, r.status])).toEqual([
      ['bunker-share-first', 'copying'],
      ['bunker-share-refused', 'expected'],
      ['bunker-share-hinted', 'expected'],
      ['bunker-share-after-the-minute', 'expected'],
    ]);
  });

  it('records a snapshot of a DB instance this container saw holding a slot within a minute as waiting, with no refused claim', async () => {
    const v = vaultFixture({ maxCopies: 5 });
    const deps = { ...v.deps, ring: new RingMemory() };
    const claimsAfter = (id: string) => announce(v, deps, id);
    const claims = [await claimsAfter('bunker-share-monday'), await claimsAfter('bunker-share-tuesday')];
    v.clock.advance(59_999);
    claims.push(await claimsAfter('bunker-share-wednesday'));
    v.clock.advance(1);
    claims.push(await claimsAfter('bunker-share-thursday'));
    claims.push(await claimsAfter('bunker-share-friday'));

    // Monday's claim took a slot for orders-db; within the minute no claim; at the minute one refused `busy`,
    // which the table answered, so Friday's, right after, is not asked either.
    expect(claims).toEqual([1, 1, 1, 2, 2]);
    const busy =
      'waiting for the copy of another snapshot of DB instance orders-db to finish: AWS copies them one after another';
    expect(v.inventory.records().map((r) => [r.sourceId, r.status, r.reason])).toEqual([
      ['bunker-share-monday', 'copying', undefined],
      ['bunker-share-tuesday', 'expected', busy],
      ['bunker-share-wednesday', 'expected', busy],
      ['bunker-share-thursday', 'expected', busy],
      ['bunker-share-friday', 'expected', busy],
    ]);
    expect(await v.inventory.copiesInProgress(POOL)).toBe(1);
  });

  it('passes a waiting snapshot of a DB instance it saw busy with no claim, and starts it once it saw that copy end', async () => {
    const v = vaultFixture({ maxCopies: 5 });
    const deps = { ...v.deps, ring: new RingMemory() };
    await announce(v, deps, 'bunker-share-monday');
    v.inventory.put(v.waitingSince(v.shared('bunker-share-tuesday').arn, '2026-03-01T04:30:00.000Z'));
    const monday = v.inventory.peek(artifactOf('bunker-share-monday'));

    // Within the minute, the sweep's look at what waits passes Tuesday without a claim: it moves behind the
    // account's other records, as a refused claim would have it.
    v.clock.advance(30_000);
    const passed = await startCopy(deps, v.inventory.peek(artifactOf('bunker-share-tuesday')) as InventoryRecord);
    const claimsWhileBusy = v.monitor.byMethod.get('inventory.claimCopy');
    // Monday's copy ends. Wednesday arrives first: its claim is refused `busy` (Monday is still `copying` in the
    // inventory), which renews the hint. Then this container settles Monday: the slot and the hint go, and the
    // freed slot's walk claims Tuesday.
    v.clock.advance(COPY_MS);
    await announce(v, deps, 'bunker-share-wednesday');
    await handleCopyEvent(
      RDS_EVENT,
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: monday?.targetName as string },
      deps,
    );

    expect(passed).toMatchObject({
      step: 'deferred',
      wait: 'resource',
      record: { updatedAt: '2026-03-01T04:30:30.000Z' },
    });
    expect(claimsWhileBusy).toBe(1);
    expect(copied(v)).toEqual(['bunker-share-monday', 'bunker-share-tuesday']);
    expect(v.monitor.byMethod.get('inventory.claimCopy')).toBe(3);
    expect(v.inventory.peek(artifactOf('bunker-share-tuesday'))).toMatchObject({ status: 'copying' });
    expect(v.inventory.peek(artifactOf('bunker-share-wednesday'))).toMatchObject({ status: 'expected' });
  });

  it('forgets that a pool was full once a freed slot finds nothing waiting: the next artifact claims it at once', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    const deps = { ...v.deps, ring: new RingMemory() };
    const announce = async (id: string) => {
      v.shared(id);
      await handleDelivery(delivered(notificationV2(id, { publishedAt: v.clock.now().toISOString() })), deps);
    };
    await announce('bunker-share-first');
    await announce('bunker-share-second');
    // The first completes and its slot goes to the second; the second completes and nothing waits.
    for (let copy = 0; copy < 2; copy += 1) {
      v.clock.advance(COPY_MS);
      const running = v.inventory.records().find((r) => r.status === 'copying');
      await handleCopyEvent(
        RDS_EVENT,
        { EventID: 'RDS-EVENT-0197', SourceIdentifier: running?.targetName as string },
        deps,
      );
    }
    await announce('bunker-share-third');

    expect(v.inventory.records().map((r) => [r.sourceId, r.status])).toEqual([
      ['bunker-share-first', 'available'],
      ['bunker-share-second', 'available'],
      ['bunker-share-third', 'copying'],
    ]);
  });

  it('settles a copy whose completion event was lost at twice its expected time, when the full pool is next asked, and refills its slot', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    const deps = { ...v.deps, ring: new RingMemory() };
    const announce = async (id: string) => {
      v.shared(id);
      await handleDelivery(delivered(notificationV2(id, { publishedAt: v.clock.now().toISOString() })), deps);
    };
    // Twenty copies whose events came: the container learns that a copy takes ten minutes to its event.
    for (let n = 0; n < 20; n += 1) {
      await announce(`bunker-share-taught-${n}`);
      v.clock.advance(COPY_MS);
      const running = v.inventory.records().find((r) => r.status === 'copying');
      await handleCopyEvent(
        RDS_EVENT,
        { EventID: 'RDS-EVENT-0197', SourceIdentifier: running?.targetName as string },
        deps,
      );
    }
    await announce('bunker-share-lost');
    await announce('bunker-share-waiting');
    // The copy finishes at 10 minutes; its event never comes. At 19:59.999 nothing is due yet.
    v.clock.advance(2 * COPY_MS - 1);
    await announce('bunker-share-early');
    const early = v.inventory.peek(artifactOf('bunker-share-lost'))?.status;
    v.clock.advance(1);
    const calls = new Map(v.monitor.byMethod);
    await announce('bunker-share-probe');
    const made = [...v.monitor.byMethod].map(([method, n]) => [method, n - (calls.get(method) ?? 0)]);

    expect(early).toBe('copying');
    expect(v.inventory.peek(artifactOf('bunker-share-lost'))).toMatchObject({
      status: 'available',
      completedAt: '2026-03-01T08:10:00.000Z',
    });
    expect(v.inventory.peek(artifactOf('bunker-share-waiting'))?.status).toBe('copying');
    expect(v.inventory.peek(artifactOf('bunker-share-probe'))?.status).toBe('expected');
    // The probe's own intake: the describe and the waiting record (the early one saw the pool full a moment ago,
    // so no claim). The look: a read, a describe, the settle and the receipt. The refill: the walk, the claim, the
    // copy and its recorded request; the container's first ring turn starts where the clock points, at this
    // account, which has just freed the slot, so the walk asks once more past it (and wraps round to it).
    // Eleven port calls, four of them the look's.
    expect(Object.fromEntries(made.filter(([, n]) => n !== 0))).toEqual({
      'reader.describe': 1,
      'inventory.create': 1,
      'inventory.get': 1,
      'backup-store.describe': 1,
      'inventory.replace': 2,
      'receipts.send': 1,
      'inventory.nextWaiting': 2,
      'inventory.claimCopy': 1,
      'backup-store.copyShared': 1,
    });
  });

  it('frees the slot of a crashed claim for the waiting copies: they start as the taken-over copy completes', async () => {
    const v = vaultFixture({ maxCopies: 1, oneDatabaseEach: true });
    v.shared('bunker-share-crashed');
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });
    await expect(handleDelivery(delivered(notificationV2('bunker-share-crashed')), v.deps)).rejects.toBeInstanceOf(
      SimulatedFaultError,
    );
    await v.announce('bunker-share-waiting');
    v.clock.advance(3 * 60_000);
    await v.announce('bunker-share-eighth');

    await finishCopies(v);
    await finishCopies(v);

    expect(copied(v)).toEqual(['bunker-share-crashed', 'bunker-share-waiting', 'bunker-share-eighth']);
    expect(v.inventory.records().map((r) => [r.sourceId, r.status])).toEqual([
      ['bunker-share-crashed', 'available'],
      ['bunker-share-waiting', 'available'],
      ['bunker-share-eighth', 'copying'],
    ]);
  });
});
