import { describe, expect, it } from 'vitest';
import { type PullSchedule, pullsDue } from '../../lambdas/core/pull/schedule';
import type { PullRunRecord } from '../../lambdas/core/pull/types';
import { pullRunSummary } from '../support/pull-runs';

const SSM: PullSchedule = { kind: 'ssm', account: '222222222222', region: 'eu-west-1', everyMinutes: 720 };
const TABLES: PullSchedule = { kind: 'dynamodb', account: '222222222222', region: 'eu-west-1', everyMinutes: 60 };

function ranAt(startedAt: string): PullRunRecord {
  return {
    artifactId: 'pull-run:x',
    kind: 'pull-run',
    lastRunAt: startedAt,
    version: 1,
    summary: pullRunSummary({ startedAt, finishedAt: startedAt }),
  };
}

describe('pullsDue', () => {
  const now = new Date('2026-11-22T12:00:00.000Z');

  it('runs a schedule that never ran', () => {
    expect(pullsDue([SSM], () => undefined, now)).toEqual([
      { kind: 'ssm', account: '222222222222', region: 'eu-west-1' },
    ]);
  });

  it('runs a schedule whose last run started at least its interval ago, and only that one', () => {
    const runs = new Map([
      ['ssm', ranAt('2026-11-22T00:00:00.000Z')], // 12 h ago: due at 720 minutes
      ['dynamodb', ranAt('2026-11-22T11:30:00.000Z')], // 30 min ago: not due at 60 minutes
    ]);
    expect(pullsDue([SSM, TABLES], (s) => runs.get(s.kind), now)).toEqual([
      { kind: 'ssm', account: '222222222222', region: 'eu-west-1' },
    ]);
  });

  it('holds back a schedule one minute short of its interval', () => {
    expect(pullsDue([SSM], () => ranAt('2026-11-22T00:01:00.000Z'), now)).toEqual([]);
  });

  it('runs everything with all (--pull-now), whatever the last runs', () => {
    const recent = ranAt('2026-11-22T11:59:00.000Z');
    expect(pullsDue([SSM, TABLES], () => recent, now, { all: true })).toHaveLength(2);
  });
});
