/**
 * `bunker status`'s last proven restore of each resource with copies: the
 * date and minutes of its last passed drill, "never drilled", and a later
 * failure beside the proof.
 */
import { describe, expect, it } from 'vitest';
import { provenRestores, provenTable } from '../../cli/status';
import type { DrillResult } from '../../lambdas/core/drill/types';
import { MemoryDrillLog } from '../../sim/memory-drill-log';

const A = '222222222222';
const REGION = 'eu-west-1';

const drill = (
  resource: string,
  finishedAt: string,
  outcome: 'passed' | 'failed',
  restoreSeconds?: number,
): DrillResult => ({
  drillId: `rds:${A}:${REGION}:${resource}:${finishedAt}`,
  subject: {
    kind: 'rds',
    account: A,
    region: REGION,
    resource,
    artifactId: 'x',
    copyId: 'y',
    copyRegion: REGION,
    pick: 'newest',
  },
  outcome,
  startedAt: finishedAt,
  finishedAt,
  ...(restoreSeconds !== undefined ? { restoreSeconds } : {}),
  targetSeconds: 3600,
  checks: [],
  ...(outcome === 'failed' ? { failure: 'failed checks: key' } : {}),
  tornDown: true,
});

describe('last proven restore in bunker status', () => {
  it('shows the date and minutes of the last passed drill, never drilled, and a failure since', async () => {
    const log = new MemoryDrillLog();
    await log.record(drill('payments-db', '2026-11-20T07:04:00.000Z', 'passed', 750));
    await log.record(drill('ledger-db', '2026-11-19T07:00:00.000Z', 'passed', 300));
    await log.record(drill('ledger-db', '2026-11-21T07:00:00.000Z', 'failed'));
    // A drilled resource without copies any more is not listed: nothing is left to prove.
    await log.record(drill('gone-db', '2026-11-01T07:00:00.000Z', 'passed', 60));
    const resources = ['payments-db', 'ledger-db', 'orders-db'].map((resource) => ({
      kind: 'rds' as const,
      account: A,
      region: REGION,
      resource,
    }));

    const proven = await provenRestores(log, resources);
    const text = provenTable(proven);

    expect(proven.map((p) => [p.resource, p.lastPassed?.finishedAt, p.lastFailed?.failure])).toEqual([
      ['ledger-db', '2026-11-19T07:00:00.000Z', 'failed checks: key'],
      ['orders-db', undefined, undefined],
      ['payments-db', '2026-11-20T07:04:00.000Z', undefined],
    ]);
    expect(text).toContain('2026-11-20 07:04, 12.5 min');
    expect(text).toContain('2026-11-19 07:00, 5 min');
    expect(text).toContain('never drilled');
    expect(text).toContain('2026-11-21: failed checks:');
    expect(text).not.toContain('gone-db');
    expect(text).toContain('3 resource(s) with copies: 2 proven restorable, 1 never drilled.');
  });
});
