/**
 * The source backlog reaches the vault: the agent's optional, bounded
 * `sourceBacklog` in the v2 notification, intake's record of it on the
 * backlog board (one notification in four), and the scheduler that serves
 * the longest backlog with half of the freed slots while every other
 * account keeps its turn of the ring.
 */
import { describe, expect, it } from 'vitest';
import { notificationOf, parseNotification, sourceBacklogOf } from '../../lambdas/core/notification';
import { BACKLOG_MAX_AGE_MS, backlogTurn, longestBacklog, reportsBacklog } from '../../lambdas/core/pipeline/backlog';
import { handleCopyEvent } from '../../lambdas/core/pipeline/completion';
import type { IntakeDeps } from '../../lambdas/core/pipeline/intake';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import {
  coldRingStart,
  MAX_PICKS,
  RingMemory,
  ringPositionBefore,
  startNext,
} from '../../lambdas/core/pipeline/schedule';
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
/** A third account: the ring needs three to show whose turn comes next. */
const THIRD = '555555555555';
const SNAPSHOT_ID = 'bunker-share-orders-db-2026-03-01-04-10-0a1b2c3d4e';
const artifactOf = (id: string, account = SOURCE) => `rds-snapshot:${account}:${REGION}:${id}`;

/** A vault fixture whose deps carry a backlog board and a place in the ring. */
function withBoard(options: Parameters<typeof vaultFixture>[0] = {}) {
  const v = vaultFixture(options);
  const board = new MemorySourceBacklogs();
  const deps: IntakeDeps = { ...v.deps, backlogs: board, ring: new RingMemory() };
  return { v, board, deps };
}

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

describe('sourceBacklog in the v2 notification', () => {
  const v2 = (extra: Record<string, unknown>) =>
    JSON.stringify({
      version: 2,
      kind: 'rds-snapshot',
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      id: SNAPSHOT_ID,
      publishedAt: '2026-03-01T04:25:00.000Z',
      ...extra,
    });

  it('is read when present and absent when left out, so older agents are still accepted', () => {
    expect(parseNotification(v2({ sourceBacklog: 37 }))).toEqual({
      ok: true,
      subject: {
        version: 2,
        kind: 'rds-snapshot',
        sourceAccount: SOURCE,
        sourceRegion: REGION,
        id: SNAPSHOT_ID,
        sourceBacklog: 37,
      },
    });
    const without = parseNotification(v2({}));
    expect(without).toEqual({
      ok: true,
      subject: { version: 2, kind: 'rds-snapshot', sourceAccount: SOURCE, sourceRegion: REGION, id: SNAPSHOT_ID },
    });
    expect(without.ok && 'sourceBacklog' in without.subject).toBe(false);
  });

  it('is bounded: a whole number from 0 to 100,000', () => {
    expect(parseNotification(v2({ sourceBacklog: 0 })).ok).toBe(true);
    expect(parseNotification(v2({ sourceBacklog: 100_000 })).ok).toBe(true);
    expect(parseNotification(v2({ sourceBacklog: 100_001 }))).toEqual({
      ok: false,
      reason: 'message does not match notification schema v2: sourceBacklog: expected at most 100000',
    });
    expect(parseNotification(v2({ sourceBacklog: -1 }))).toEqual({
      ok: false,
      reason: 'message does not match notification schema v2: sourceBacklog: expected a count, 0 or more',
    });
    expect(parseNotification(v2({ sourceBacklog: 2.5 }))).toEqual({
      ok: false,
      reason: 'message does not match notification schema v2: sourceBacklog: expected a whole number',
    });
    expect(parseNotification(v2({ sourceBacklog: '12' }))).toEqual({
      ok: false,
      reason: 'message does not match notification schema v2: sourceBacklog: expected a whole number',
    });
  });

  it('is built by notificationOf only when the agent has one', () => {
    const at = new Date('2026-03-01T04:25:00.000Z');
    const base = { kind: 'rds-snapshot', sourceAccount: SOURCE, sourceRegion: REGION, id: SNAPSHOT_ID } as const;
    expect(notificationOf({ ...base, publishedAt: at, sourceBacklog: 12 })).toEqual({
      version: 2,
      ...base,
      publishedAt: '2026-03-01T04:25:00.000Z',
      sourceBacklog: 12,
    });
    expect(JSON.stringify(notificationOf({ ...base, publishedAt: at, sourceBacklog: undefined }))).not.toContain(
      'sourceBacklog',
    );
  });

  it("is the agent container's deferred originals and those its count saw held back, while it holds some or was at the cap within the hour", () => {
    const now = Date.parse('2026-03-01T06:00:00.000Z');
    const minutesAgo = (m: number) => now - m * 60_000;
    const deferred = (n: number) => ({ size: n });
    const counted = minutesAgo(1);
    expect(sourceBacklogOf({ deferred: deferred(3), candidates: [1, 2, 3, 4], candidatesAt: counted }, now)).toBe(7);
    expect(
      sourceBacklogOf(
        { deferred: deferred(0), candidates: [1, 2], candidatesAt: counted, capReachedAt: minutesAgo(59) },
        now,
      ),
    ).toBe(2);
    expect(
      sourceBacklogOf(
        { deferred: deferred(0), candidates: [], candidatesAt: counted, capReachedAt: minutesAgo(59) },
        now,
      ),
    ).toBe(0);
    expect(
      sourceBacklogOf(
        { deferred: deferred(0), candidates: [1], candidatesAt: counted, capReachedAt: minutesAgo(60) },
        now,
      ),
    ).toBe(undefined);
    // A count that saw an original just before this container started it is no backlog.
    expect(sourceBacklogOf({ deferred: deferred(0), candidates: [1], candidatesAt: counted }, now)).toBe(undefined);
  });

  it('is left out, never 0, by a container that has not counted within 5 minutes, or found its count stale', () => {
    const now = Date.parse('2026-03-01T06:00:00.000Z');
    const minutesAgo = (m: number) => now - m * 60_000;
    const atCap = { deferred: { size: 2 }, candidates: [1, 2, 3], capReachedAt: minutesAgo(10) };
    expect(sourceBacklogOf({ ...atCap, candidatesAt: minutesAgo(4.99) }, now)).toBe(5);
    expect(sourceBacklogOf({ ...atCap, candidatesAt: minutesAgo(5) }, now)).toBe(undefined);
    // Its count's list found stale (started elsewhere) and dropped: unknown, not the 2 it still holds.
    expect(sourceBacklogOf({ ...atCap, candidates: [] }, now)).toBe(undefined);
    expect(sourceBacklogOf({ deferred: { size: 0 }, candidates: [], capReachedAt: minutesAgo(10) }, now)).toBe(
      undefined,
    );
  });
});

describe('the backlog board', () => {
  it('keeps the newest report per account, removes an account at 0, and puts the longest first, the lowest id on a tie', async () => {
    const board = new MemorySourceBacklogs();
    await board.report(POOL, { account: OTHER, backlog: 40, at: '2026-03-01T04:10:00.000Z' });
    await board.report(POOL, { account: OTHER, backlog: 90, at: '2026-03-01T04:05:00.000Z' });
    await board.report(POOL, { account: THIRD, backlog: 40, at: '2026-03-01T04:11:00.000Z' });
    await board.report(POOL, { account: SOURCE, backlog: 7, at: '2026-03-01T04:12:00.000Z' });
    const first = await board.longest(POOL);
    await board.report(POOL, { account: OTHER, backlog: 0, at: '2026-03-01T04:20:00.000Z' });

    expect(first).toEqual({ account: OTHER, backlog: 40, at: '2026-03-01T04:10:00.000Z' });
    expect(await board.longest(POOL)).toEqual({ account: THIRD, backlog: 40, at: '2026-03-01T04:11:00.000Z' });
    expect(await board.longest('ebs-snapshot@eu-west-1')).toBeUndefined();
  });

  it('answers a report older than two hours as stale, and keeps it on the board when it is read', async () => {
    const { v, board, deps } = withBoard();
    // No container memory: every look reads the board.
    const reading = { ...deps, ring: undefined };
    await board.report(POOL, { account: OTHER, backlog: 40, at: T0 });
    v.clock.advance(BACKLOG_MAX_AGE_MS);
    const atTwoHours = await longestBacklog(reading, POOL);
    v.clock.advance(1);
    const after = await longestBacklog(reading, POOL);

    expect(BACKLOG_MAX_AGE_MS).toBe(7_200_000);
    expect(atTwoHours).toEqual({ account: OTHER, at: T0, stale: false });
    expect(after).toEqual({ account: OTHER, at: T0, stale: true });
    expect(board.entries(POOL)).toEqual([{ account: OTHER, backlog: 40, at: T0 }]);
  });

  it('serves a stale lead whose records still wait at the vault, and keeps its entry', async () => {
    const { v, board, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    // Its agent stopped reporting because all it sent waits here: the report ages, the backlog does not.
    await board.report(POOL, { account: OTHER, backlog: 300, at: T0 });
    v.inventory.put(v.waitingSince(v.shared('bunker-share-s1').arn, '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(v.shared('bunker-share-o1', { account: OTHER }).arn, '2026-03-01T04:02:00.000Z'));
    v.clock.advance(3 * 3_600_000);

    const step = await startNext(deps, POOL, SOURCE, MAX_PICKS, true);

    expect(step?.record.sourceId).toBe('bunker-share-o1');
    expect(board.entries(POOL)).toEqual([{ account: OTHER, backlog: 300, at: T0 }]);
  });

  it('forgets a stale lead once a board turn finds none of its records waiting, and serves the next account', async () => {
    const { v, board, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    await board.report(POOL, { account: OTHER, backlog: 300, at: T0 });
    await board.report(POOL, { account: SOURCE, backlog: 20, at: '2026-03-01T07:00:00.000Z' });
    v.inventory.put(v.waitingSince(v.shared('bunker-share-s1').arn, '2026-03-01T04:01:00.000Z'));
    v.clock.advance(3 * 3_600_000);

    const stale = await startNext(deps, POOL, SOURCE, MAX_PICKS, true);
    const fresh = await longestBacklog(deps, POOL);

    expect(stale?.record.sourceId).toBe('bunker-share-s1');
    expect(board.entries(POOL)).toEqual([{ account: SOURCE, backlog: 20, at: '2026-03-01T07:00:00.000Z' }]);
    // The container's own read of the board is let go with it: the next turn reads the board again.
    expect(fresh).toEqual({ account: SOURCE, at: '2026-03-01T07:00:00.000Z', stale: false });
  });

  it('keeps a fresh lead with nothing waiting: its agent is still sending', async () => {
    const { v, board, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    await board.report(POOL, { account: OTHER, backlog: 300, at: T0 });
    v.inventory.put(v.waitingSince(v.shared('bunker-share-s1').arn, '2026-03-01T04:01:00.000Z'));
    v.clock.advance(BACKLOG_MAX_AGE_MS);

    const step = await startNext(deps, POOL, SOURCE, MAX_PICKS, true);

    expect(step?.record.sourceId).toBe('bunker-share-s1');
    expect(board.entries(POOL)).toEqual([{ account: OTHER, backlog: 300, at: T0 }]);
  });

  it('is read once per two minutes by a container, and again after', async () => {
    const { v, board, deps } = withBoard();
    let reads = 0;
    const counted = {
      ...deps,
      backlogs: {
        ...board,
        report: board.report.bind(board),
        forget: board.forget.bind(board),
        longest: (pool: string) => ((reads += 1), board.longest(pool)),
      },
    };
    await board.report(POOL, { account: OTHER, backlog: 40, at: T0 });
    const first = await longestBacklog(counted, POOL);
    await board.report(POOL, { account: SOURCE, backlog: 90, at: T0 });
    v.clock.advance(119_999);
    const cached = await longestBacklog(counted, POOL);
    v.clock.advance(1);
    const fresh = await longestBacklog(counted, POOL);

    expect([first, cached, fresh].map((lead) => lead?.account)).toEqual([OTHER, OTHER, SOURCE]);
    expect(reads).toBe(2);
  });

  it('is recorded by intake from one accepted notification in four, chosen by the artifact id', async () => {
    const { v, board, deps } = withBoard();
    v.shared('bunker-share-s1');
    v.shared('bunker-share-s3');
    await handleDelivery(delivered(notificationV2('bunker-share-s3', { sourceBacklog: 25 })), deps);
    const unchosen = board.entries(POOL);
    await handleDelivery(delivered(notificationV2('bunker-share-s1', { sourceBacklog: 40 })), deps);

    expect(reportsBacklog(artifactOf('bunker-share-s3'))).toBe(false);
    expect(reportsBacklog(artifactOf('bunker-share-s1'))).toBe(true);
    expect(unchosen).toEqual([]);
    expect(board.entries(POOL)).toEqual([{ account: SOURCE, backlog: 40, at: T0 }]);
  });

  it('is recorded from the first notification of a backlog of 50 or more an intake container sees, chosen or not', async () => {
    const { v, board, deps } = withBoard();
    const backlogs: number[][] = [];
    for (const [name, sourceBacklog] of [
      ['s3', 30],
      ['s6', 600],
      ['s7', 590],
      ['s8', 580],
    ] as const) {
      v.shared(`bunker-share-${name}`);
      await handleDelivery(delivered(notificationV2(`bunker-share-${name}`, { sourceBacklog })), deps);
      backlogs.push(board.entries(POOL).map((entry) => entry.backlog));
      v.clock.advance(60_000);
    }

    // Only s8 is chosen by its id: s3's backlog is short, s6's is the first long one, s7's is not the first.
    expect(['s3', 's6', 's7', 's8'].map((n) => reportsBacklog(artifactOf(`bunker-share-${n}`)))).toEqual([
      false,
      false,
      false,
      true,
    ]);
    expect(backlogs).toEqual([[], [600], [600], [580]]);
  });

  it('records nothing for a notification intake rejects', async () => {
    const { board, deps } = withBoard();
    // Never shared: the Describe proves nothing, so its backlog is not believed either.
    const outcome = await handleDelivery(delivered(notificationV2('bunker-share-r1', { sourceBacklog: 40 })), deps);

    expect(outcome.outcome).toBe('rejected');
    expect(board.entries(POOL)).toEqual([]);
  });
});

describe('serving the longest source backlog', () => {
  it('places a walk just before an account, so it reads that account first', () => {
    expect(ringPositionBefore('333333333333')).toBe('333333333332\uffff');
    expect(ringPositionBefore('300000000040')).toBe('30000000004/\uffff');
    expect('333333333332\uffff$' < '333333333333#').toBe(true);
    expect('333333333332#' < '333333333332\uffff$').toBe(true);
  });

  it('gives the longest backlog the slots freed on its turns, and the ring the others', async () => {
    const { v, board, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    v.shared('bunker-share-running');
    await handleDelivery(delivered(notificationV2('bunker-share-running')), deps);
    // The flooding account queued first; OTHER's agent says it holds 300 more back.
    const flood = ['s1', 's2', 's3', 's4'].map((n) => v.shared(`bunker-share-${n}`).arn);
    const other = ['o1', 'o2', 'o3', 'o4'].map((n) => v.shared(`bunker-share-${n}`, { account: OTHER }).arn);
    flood.forEach((arn, i) => v.inventory.put(v.waitingSince(arn, `2026-03-01T04:0${i + 1}:00.000Z`)));
    other.forEach((arn, i) => v.inventory.put(v.waitingSince(arn, `2026-03-01T04:2${i + 1}:00.000Z`)));
    await board.report(POOL, { account: OTHER, backlog: 300, at: T0 });

    for (let copy = 0; copy < 8; copy += 1) await finishOne(v, deps);

    // Whose turn each freed slot was: the freed copy's id decides.
    expect(['running', 's1', 's2', 's3', 's4'].map((n) => backlogTurn(artifactOf(`bunker-share-${n}`)))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['o1', 'o2', 'o3'].map((n) => backlogTurn(artifactOf(`bunker-share-${n}`, OTHER)))).toEqual([
      true,
      true,
      false,
    ]);
    expect(copied(v)).toEqual([
      'bunker-share-running',
      'bunker-share-o1',
      'bunker-share-o2',
      'bunker-share-o3',
      'bunker-share-s1',
      'bunker-share-o4',
      'bunker-share-s2',
      'bunker-share-s3',
      'bunker-share-s4',
    ]);
  });

  it("still starts another account's single snapshot within one copy duration of a flood with the longest backlog", async () => {
    const { v, board, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    // The worst case: the running copy's freed slot is a backlog turn, so the flood gets it.
    v.shared('bunker-share-r1');
    await handleDelivery(delivered(notificationV2('bunker-share-r1')), deps);
    const flood = ['s1', 's2', 's3', 's4', 's5', 's6'].map((n) => v.shared(`bunker-share-${n}`).arn);
    flood.forEach((arn, i) => v.inventory.put(v.waitingSince(arn, `2026-03-01T04:0${i + 1}:00.000Z`)));
    await board.report(POOL, { account: SOURCE, backlog: 5_000, at: T0 });
    v.shared('bunker-share-single', { account: OTHER });
    await handleDelivery(
      delivered(notificationV2('bunker-share-single', { sourceAccount: OTHER, publishedAt: T0 }), OTHER),
      deps,
    );

    await finishOne(v, deps);
    const afterOne = copied(v);
    await finishOne(v, deps);

    expect([backlogTurn(artifactOf('bunker-share-r1')), backlogTurn(artifactOf('bunker-share-s1'))]).toEqual([
      true,
      false,
    ]);
    expect(afterOne).toEqual(['bunker-share-r1', 'bunker-share-s1']);
    expect(copied(v)).toEqual(['bunker-share-r1', 'bunker-share-s1', 'bunker-share-single']);
    expect(v.inventory.peek(artifactOf('bunker-share-single', OTHER))).toMatchObject({ status: 'copying' });
  });

  it("starts a cold container's ring at the registered account the clock points at, one further each minute", () => {
    const sources = [{ account: THIRD }, { account: SOURCE }, { account: OTHER }, { account: SOURCE }];
    const at = (iso: string) => coldRingStart(sources, Date.parse(iso));

    expect(at('2026-03-01T04:30:00.000Z')).toBe('222222222221\uffff');
    expect(at('2026-03-01T04:31:59.999Z')).toBe('333333333332\uffff');
    expect(at('2026-03-01T04:32:00.000Z')).toBe('555555555554\uffff');
    expect(at('2026-03-01T04:33:00.000Z')).toBe('222222222221\uffff');
    expect(coldRingStart([], Date.parse(T0))).toBeUndefined();
  });

  it("gives a cold container's first ring turn to the account the clock points at, not the one after the freed copy", async () => {
    const { v, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    const registered = {
      ...deps,
      settings: { ...deps.settings, sources: [...deps.settings.sources, { account: THIRD, regions: [REGION] }] },
    };
    v.shared('bunker-share-running');
    await handleDelivery(delivered(notificationV2('bunker-share-running')), registered);
    const waiting: [string, string][] = [
      [SOURCE, 's1'],
      [OTHER, 'o1'],
      [THIRD, 'x1'],
    ];
    waiting.forEach(([account, n], i) =>
      v.inventory.put(
        v.waitingSince(v.shared(`bunker-share-${n}`, { account }).arn, `2026-03-01T04:0${i + 1}:00.000Z`),
      ),
    );
    // The copy ends at 04:40 and its event reaches a container started a minute later, at 04:41: the third account.
    v.clock.advance(60_000);
    await finishOne(v, { ...registered, ring: new RingMemory() });

    expect(backlogTurn(artifactOf('bunker-share-running'))).toBe(false);
    expect(copied(v)).toEqual(['bunker-share-running', 'bunker-share-x1']);
  });

  it("goes round every account with the ring's turns, even when one account frees every slot", async () => {
    const { v, deps } = withBoard({ maxCopies: 1, oneDatabaseEach: true });
    v.shared('bunker-share-running');
    await handleDelivery(delivered(notificationV2('bunker-share-running')), deps);
    const waiting: [string, string][] = [
      [THIRD, 'x1'],
      [OTHER, 'o1'],
      [THIRD, 'x2'],
      [OTHER, 'o2'],
      [SOURCE, 's1'],
    ];
    waiting.forEach(([account, n], i) =>
      v.inventory.put(
        v.waitingSince(v.shared(`bunker-share-${n}`, { account }).arn, `2026-03-01T04:0${i + 1}:00.000Z`),
      ),
    );

    for (let copy = 0; copy < 5; copy += 1) await finishOne(v, deps);

    // Without a place in the ring, the slot SOURCE frees would go to OTHER, then o1's to THIRD, x1's to SOURCE…
    expect(copied(v)).toEqual([
      'bunker-share-running',
      'bunker-share-o1',
      'bunker-share-x1',
      'bunker-share-s1',
      'bunker-share-o2',
      'bunker-share-x2',
    ]);
  });
});
