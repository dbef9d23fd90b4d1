/**
 * A pull run's summary as the tests that only need one to exist write it: a
 * run of SSM in 222222222222 eu-west-1 that found nothing and changed nothing.
 * A test names what its case is about (the account, the times, the counts)
 * and keeps the rest.
 */
import type { PullRunSummary } from '../../lambdas/core/pull/types';

export function pullRunSummary(fields: Partial<PullRunSummary> = {}): PullRunSummary {
  return {
    kind: 'ssm',
    account: '222222222222',
    region: 'eu-west-1',
    startedAt: '2026-11-22T00:00:00.000Z',
    finishedAt: '2026-11-22T00:00:00.000Z',
    inScope: 0,
    changed: 0,
    unchanged: 0,
    deleted: 0,
    failed: 0,
    dataWrites: 0,
    nothingChanged: true,
    continued: false,
    breaches: [],
    ...fields,
  };
}
