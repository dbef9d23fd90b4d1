import { describe, expect, it } from 'vitest';
import type { DrillResult, DrillSubject, DrillSummary } from '../../lambdas/core/drill/types';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { sweepCopies } from '../../lambdas/core/pipeline/completion';
import type { PulledRecord } from '../../lambdas/core/pull/types';
import { chooseCopies } from '../../lambdas/core/recovery/choose';
import { buildRunbook, type Runbook, runbookMarkdown } from '../../lambdas/core/recovery/runbook';
import type { RecoveryCopy } from '../../lambdas/core/recovery/types';
import type { ArtifactKind } from '../../lib/config/schema';
import { MemoryDrillLog } from '../../sim/memory-drill-log';
import { BACKUP, COPY_MS, REGION, SOURCE, vaultFixture } from './support/memory-fixtures';

const TARGET = '555555555555';
const TARGET_MINUTES: Record<ArtifactKind, number> = {
  rds: 60,
  aurora: 90,
  ebs: 30,
  ami: 45,
  ssm: 5,
  secrets: 5,
  dynamodb: 60,
};

const pulled = (kind: PulledRecord['kind'], name: string): PulledRecord => ({
  artifactId: `${kind}:${SOURCE}:${REGION}:${name}`,
  kind,
  pullScope: `${kind}:${SOURCE}:${REGION}`,
  state: 'held',
  sourceAccount: SOURCE,
  sourceRegion: REGION,
  sourceId: name,
  latest: {
    id: `v-${name}`,
    modifiedAt: '2026-03-01T03:00:00.000Z',
    pulledAt: '2026-03-01T03:10:00.000Z',
    objectKey: `x/${name}`,
    checksum: 'c',
  },
  createdAt: '2026-03-01T03:10:00.000Z',
  updatedAt: '2026-03-01T03:10:00.000Z',
  version: 1,
});

const EBS_COPY: InventoryRecord = {
  artifactId: `ebs-snapshot:${SOURCE}:${REGION}:snap-0source`,
  kind: 'ebs-snapshot',
  status: 'available',
  sourceAccount: SOURCE,
  sourceRegion: REGION,
  sourceResourceId: 'vol-0data',
  sourceCreatedAt: '2026-03-01T02:00:00.000Z',
  targetId: 'snap-0vaultcopy',
  targetRegion: REGION,
  createdAt: '2026-03-01T02:05:00.000Z',
  updatedAt: '2026-03-01T02:30:00.000Z',
  copyAttempts: 1,
  failures: 0,
  version: 4,
  history: [],
};

const drill = (kind: ArtifactKind, resource: string, outcome: 'passed' | 'failed', restoreSeconds?: number) => {
  const subject: DrillSubject = {
    kind,
    account: SOURCE,
    region: REGION,
    resource,
    artifactId: `${kind}:${resource}`,
    copyId: `copy-${resource}`,
    copyRegion: REGION,
    pick: 'newest',
  };
  const result: DrillResult = {
    drillId: `${kind}:${resource}:2026-03-02T01:00:00.000Z`,
    subject,
    outcome,
    startedAt: '2026-03-02T01:00:00.000Z',
    finishedAt: '2026-03-02T02:00:00.000Z',
    ...(restoreSeconds !== undefined ? { restoreSeconds } : {}),
    targetSeconds: TARGET_MINUTES[kind] * 60,
    checks: [],
    tornDown: true,
  };
  return result;
};

/**
 * Two RDS copies made by a pipeline run over the memory doubles (real copy
 * names), an EBS copy, two parameters, a secret and a table; drills that
 * passed for one database, the table, one parameter and the secret, and
 * one that failed for the other database.
 */
async function runbookOfSmallRun(): Promise<Runbook> {
  const v = vaultFixture({ oneDatabaseEach: true });
  await v.announce('bunker-share-first');
  await v.announce('bunker-share-second');
  v.clock.advance(COPY_MS);
  await sweepCopies(v.deps);
  const drills = new MemoryDrillLog();
  await drills.record(drill('rds', 'orders-db-bunker-share-first', 'passed', 840));
  await drills.record(drill('rds', 'orders-db-bunker-share-second', 'failed'));
  await drills.record(drill('dynamodb', 'orders', 'passed', 1200));
  await drills.record(drill('ssm', '/app/db-url', 'passed', 20));
  await drills.record(drill('secrets', 'app/db-password', 'passed', 30));
  const copies = chooseCopies(
    [...(await v.inventory.list()), EBS_COPY],
    [
      pulled('ssm-parameter', '/app/db-url'),
      pulled('ssm-parameter', '/app/feature-flags'),
      pulled('secret', 'app/db-password'),
      pulled('dynamodb-table', 'orders'),
    ],
    { account: SOURCE },
    REGION,
  );
  return buildRunbook({
    copies,
    drills: await drills.latest({ account: SOURCE }),
    targetMinutes: TARGET_MINUTES,
    generatedAt: new Date('2026-03-05T09:00:00.000Z'),
    settings: { backupAccount: BACKUP, partition: 'aws', account: SOURCE, toAccount: TARGET, toRegion: REGION },
  });
}

describe('buildRunbook', () => {
  it('orders keys and configuration, then data stores, then images and volumes, each stage in parallel', async () => {
    const runbook = await runbookOfSmallRun();

    expect(
      runbook.stages.map((stage) => [stage.order, stage.name, stage.steps.map((step) => `${step.id} ${step.kind}`)]),
    ).toEqual([
      [1, 'keys and configuration', ['1.1 ssm', '1.2 secrets']],
      [2, 'data stores', ['2.1 rds', '2.2 rds', '2.3 dynamodb']],
      [3, 'images and volumes', ['3.1 ebs']],
    ]);
    expect(runbook.stages.every((stage) => stage.parallel)).toBe(true);
  });

  it('names the real copies the pipeline made, with the measured time or the target marked as an estimate', async () => {
    const runbook = await runbookOfSmallRun();
    const [rdsFirst, rdsSecond] = runbook.stages[1].steps;

    expect(rdsFirst.resources).toEqual([
      {
        resource: 'orders-db-bunker-share-first',
        artifactId: 'rds-snapshot:222222222222:eu-west-1:bunker-share-first',
        copyId: 'bunker-222222222222-first-432d5a29c4',
        copyRegion: 'eu-west-1',
        takenAt: '2026-03-01T04:30:00.000Z',
        seconds: 840,
        basis: 'measured',
        drilledAt: '2026-03-02T01:00:00.000Z',
      },
    ]);
    expect(rdsSecond.resources.map((r) => [r.copyId, r.seconds, r.basis])).toEqual([
      ['bunker-222222222222-second-4dff99d1be', 3600, 'target'],
    ]);
    expect(rdsSecond.estimated).toBe(true);
    expect(rdsFirst.commands[0]).toBe(
      'aws rds copy-db-snapshot --region eu-west-1 --source-db-snapshot-identifier ' +
        'arn:aws:rds:eu-west-1:111111111111:snapshot:bunker-222222222222-first-432d5a29c4 ' +
        '--target-db-snapshot-identifier orders-db-bunker-share-first-recovered --kms-key-id "$KMS_KEY" --copy-tags',
    );
  });

  it('restores the parameters of a Region in one step whose time is the sum of theirs, rewriting the account id', async () => {
    const runbook = await runbookOfSmallRun();
    const ssm = runbook.stages[0].steps[0];

    expect(ssm.resources.map((r) => [r.resource, r.seconds, r.basis])).toEqual([
      ['/app/db-url', 20, 'measured'],
      ['/app/feature-flags', 300, 'target'],
    ]);
    expect(ssm.seconds).toBe(320);
    expect(ssm.commands).toEqual([
      'bunker restore ssm --account 222222222222 --region eu-west-1 --to-account 555555555555 --to-region eu-west-1 ' +
        '--rewrite 222222222222=555555555555',
    ]);
  });

  it('adds up the slowest step of each stage along the critical path', async () => {
    const runbook = await runbookOfSmallRun();

    expect(runbook.stages.map((stage) => stage.seconds)).toEqual([320, 3600, 1800]);
    expect(runbook.criticalPathSeconds).toBe(5720);
    expect(runbook.notDrilled).toBe(3);
  });

  it('renders markdown with the total, the estimates marked, and every command in a code block', async () => {
    const text = runbookMarkdown(await runbookOfSmallRun());

    expect(text).toContain('along the critical path: **1 h 35 min** (3 resource(s) not drilled');
    expect(text).toContain('## Stage 2: data stores (1 h 00 min; 3 step(s) in parallel)');
    expect(text).toContain('not drilled: target 1 h 00 min (estimate)');
    expect(text).toContain('restored in 14 min by the drill of 2026-03-02T01:00:00.000Z');
    expect(text).toContain('aws ec2 create-volume --region eu-west-1 --snapshot-id "$SNAP_VOL_0DATA"');
    expect(text).toContain(
      'bunker recover --request --account 222222222222 --to-account 555555555555 --to-region eu-west-1',
    );
  });

  it("times a second-Region copy by its own Region's drill, never by the first hop's", () => {
    const copy = (copyRegion: string, hop?: 2): RecoveryCopy => ({
      kind: 'ebs',
      artifactId: `ebs-snapshot:${SOURCE}:${REGION}:snap-0source${hop ? `@${copyRegion}` : ''}`,
      resource: 'vol-0data',
      sourceRegion: REGION,
      copyId: hop ? 'snap-0second' : 'snap-0first',
      copyRegion,
      ...(hop ? { hop } : {}),
    });
    const drilled = (restoreSeconds: number, hop?: 2): DrillSummary => {
      const subject: DrillSubject = {
        kind: 'ebs',
        account: SOURCE,
        region: REGION,
        resource: 'vol-0data',
        artifactId: `ebs-snapshot:${SOURCE}:${REGION}:snap-0source${hop ? '@eu-central-1' : ''}`,
        copyId: hop ? 'snap-0second' : 'snap-0first',
        copyRegion: hop ? 'eu-central-1' : REGION,
        pick: 'newest',
        ...(hop ? { hop } : {}),
      };
      const result: DrillResult = {
        drillId: `d-${restoreSeconds}`,
        subject,
        outcome: 'passed',
        startedAt: '2026-03-02T01:00:00.000Z',
        finishedAt: '2026-03-02T02:00:00.000Z',
        restoreSeconds,
        targetSeconds: 1800,
        checks: [],
        tornDown: true,
      };
      return {
        kind: 'ebs',
        account: SOURCE,
        region: REGION,
        resource: 'vol-0data',
        ...(hop ? { hop, copyRegion: 'eu-central-1' } : {}),
        last: result,
        lastPassed: result,
      };
    };
    const secondsOf = (copies: RecoveryCopy[], drills: DrillSummary[]) =>
      buildRunbook({
        copies,
        drills,
        targetMinutes: TARGET_MINUTES,
        generatedAt: new Date('2026-03-05T09:00:00.000Z'),
        settings: { backupAccount: BACKUP, partition: 'aws', account: SOURCE },
      }).stages.flatMap((stage) =>
        stage.steps.flatMap((step) => step.resources.map((r) => [r.copyId, r.seconds, r.basis])),
      );

    // Either order of the drill log's items: the second Region's drill never stands in for the first hop's.
    expect(secondsOf([copy(REGION)], [drilled(600), drilled(1500, 2)])).toEqual([['snap-0first', 600, 'measured']]);
    expect(secondsOf([copy(REGION)], [drilled(1500, 2), drilled(600)])).toEqual([['snap-0first', 600, 'measured']]);
    expect(secondsOf([copy('eu-central-1', 2)], [drilled(600), drilled(1500, 2)])).toEqual([
      ['snap-0second', 1500, 'measured'],
    ]);
    // Not drilled in its own Region: the kind's target (30 minutes), not the first hop's time.
    expect(secondsOf([copy('eu-central-1', 2)], [drilled(600)])).toEqual([['snap-0second', 1800, 'target']]);
  });

  it('has no stage and no time for an account the vault holds nothing of', () => {
    const runbook = buildRunbook({
      copies: [],
      drills: [],
      targetMinutes: TARGET_MINUTES,
      generatedAt: new Date('2026-03-05T09:00:00.000Z'),
      settings: { backupAccount: BACKUP, partition: 'aws', account: SOURCE },
    });

    expect(runbook.stages).toEqual([]);
    expect(runbook.criticalPathSeconds).toBe(0);
    expect(runbookMarkdown(runbook)).toBe(
      '# Recovery runbook for account 222222222222\n\nGenerated 2026-03-05T09:00:00.000Z: the vault holds no copy of this account.\n',
    );
  });
});
