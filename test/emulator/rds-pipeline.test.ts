/**
 * The RDS pipeline end to end on the emulator: source agents, the intake
 * topic and queue, intake, copies and completion, with the real SDK clients
 * over HTTP and real STS AssumeRole into every account. Every assertion reads
 * the emulator's state back: the backup account's snapshots with its own
 * credentials, and the inventory table.
 *
 * Two environments, each on fresh accounts: one driven by `localRun` (the
 * whole pipeline, as `bunker local run` drives it), one driving the intake
 * handler directly with hand-built SQS batches, where a fault-injecting
 * wrapper around a real adapter stands in for a crash or a race.
 */
import type { DBSnapshot, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRunSummary, localRun } from '../../cli/local/run';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { kmsKeyIdOf } from '../../lambdas/core/keys';
import {
  backupSnapshotId,
  INTERMEDIATE_PREFIX,
  intermediateSnapshotId,
  rdsArtifactId,
  rejectionId,
} from '../../lambdas/core/names';
import { MAX_NOTIFICATION_BYTES } from '../../lambdas/core/notification';
import type { BackupSnapshotStore, SourceSnapshotReader } from '../../lambdas/core/ports';
import type { IntakeDeps } from '../../lambdas/core/rds-intake';
import {
  TAG_MANAGED_BY,
  TAG_SOURCE_ACCOUNT,
  TAG_SOURCE_DB,
  TAG_SOURCE_REGION,
  TAG_SOURCE_SNAPSHOT,
} from '../../lambdas/core/rds-copy';
import { TAG_NOTIFIED_AT } from '../../lambdas/core/rds-source-agent';
import { createRdsIntakeHandler } from '../../lambdas/handlers/rds-intake';
import type { BunkerConfig } from '../../lib/config/schema';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createDatabase,
  createKey,
  createSnapshot,
  describeSnapshot,
  inventory,
  notificationBody,
  ownSnapshots,
  publish,
  REGION,
  realVaultDeps,
  restoreAttribute,
  shareSnapshot,
  sqsEvent,
  TestClients,
  tagsOf,
  unshareSnapshot,
} from './support/bunker';

/** The backup account's copies made by Bunker. */
async function backupCopies(rds: RDSClient): Promise<DBSnapshot[]> {
  return (await ownSnapshots(rds)).filter((s) => tagsOf(s)[TAG_MANAGED_BY] === 'bunker');
}

/** The backup copies of one source snapshot (by the id the copy's tags name). */
async function copiesOf(rds: RDSClient, sourceSnapshotId: string): Promise<DBSnapshot[]> {
  return (await backupCopies(rds)).filter((s) => tagsOf(s)[TAG_SOURCE_SNAPSHOT] === sourceSnapshotId);
}

const sameKey = (a: string | undefined, b: string | undefined) => {
  expect(kmsKeyIdOf(a)).toBeDefined();
  expect(kmsKeyIdOf(a)).toBe(kmsKeyIdOf(b));
};

describe('a backup cycle driven by localRun', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const intruder = freshAccountId();
  const config = bunkerConfig(backup, [source]);
  const backupRds = aws.rds(backup);
  const sourceRds = aws.rds(source);

  let env: LocalEnvironment;
  let firstRun: LocalRunSummary;
  /** Production's snapshots as they were before Bunker ran: id → snapshot. */
  const productionBefore = new Map<string, DBSnapshot>();
  let intruderArn: string;
  let unsharedArn: string;

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    const ownKey = await createKey(aws.kms(source));
    // In scope: a manual snapshot under the database's own key.
    await createDatabase(sourceRds, { id: 'orders', inScope: true, kmsKeyId: ownKey });
    await createSnapshot(sourceRds, 'orders', 'orders-manual');
    // In scope: automated snapshots under the default aws/rds key.
    await createDatabase(sourceRds, { id: 'reports', inScope: true, automated: true });
    // In scope: a manual snapshot under the default aws/rds key.
    await createDatabase(sourceRds, { id: 'billing', inScope: true });
    await createSnapshot(sourceRds, 'billing', 'billing-manual');
    // Out of scope (untagged).
    await createDatabase(sourceRds, { id: 'scratch', inScope: false });
    await createSnapshot(sourceRds, 'scratch', 'scratch-manual');
    for (const snapshot of await ownSnapshots(sourceRds)) {
      productionBefore.set(snapshot.DBSnapshotIdentifier ?? '', snapshot);
    }

    // A registered source announces a snapshot it never shared.
    unsharedArn = await createSnapshot(sourceRds, 'scratch', 'scratch-never-shared');
    await publish(aws.sns(source), env.topicArn, notificationBody(source, unsharedArn));

    // An unregistered account really shares a snapshot with the backup account and announces it.
    const intruderRds = aws.rds(intruder);
    await createDatabase(intruderRds, { id: 'planted-db', inScope: true });
    intruderArn = await createSnapshot(intruderRds, 'planted-db', 'planted');
    await shareSnapshot(intruderRds, 'planted', backup);
    await publish(aws.sns(intruder), env.topicArn, notificationBody(intruder, intruderArn));

    firstRun = await localRun(config, endpoint);
  });

  afterAll(() => aws.destroy());

  it('copies a tagged database snapshot once into the backup account, under the backup-data key, tagged with its source', async () => {
    expect(firstRun.settled).toBe(true);
    const intermediate = await describeSnapshot(sourceRds, intermediateSnapshotId('orders-manual'));
    const copies = await copiesOf(backupRds, intermediate.DBSnapshotIdentifier ?? '');

    expect(copies).toHaveLength(1);
    const [copy] = copies;
    expect(copy.DBSnapshotIdentifier).toBe(backupSnapshotId(intermediate.DBSnapshotArn ?? ''));
    expect(copy.DBSnapshotArn?.split(':')[4]).toBe(backup);
    expect(copy.Status).toBe('available');
    expect(copy.Encrypted).toBe(true);
    sameKey(copy.KmsKeyId, env.backupKeyArn);
    expect(tagsOf(copy)).toMatchObject({
      [TAG_MANAGED_BY]: 'bunker',
      [TAG_SOURCE_ACCOUNT]: source,
      [TAG_SOURCE_REGION]: REGION,
      [TAG_SOURCE_SNAPSHOT]: intermediate.DBSnapshotIdentifier,
      [TAG_SOURCE_DB]: 'orders',
    });

    const records = await inventory(config, endpoint);
    const record = records.find((r) => r.artifactId === rdsArtifactId(intermediate.DBSnapshotArn ?? ''));
    expect(record).toMatchObject({
      status: 'available',
      kind: 'rds-snapshot',
      sourceAccount: source,
      sourceRegion: REGION,
      sourceArn: intermediate.DBSnapshotArn,
      sourceResourceId: 'orders',
      targetId: copy.DBSnapshotIdentifier,
      targetArn: copy.DBSnapshotArn,
      copyAttempts: 1,
    });
    sameKey(record?.kmsKeyId, env.backupKeyArn);
    // Exactly one record per source snapshot.
    expect(records.filter((r) => r.sourceArn === intermediate.DBSnapshotArn)).toHaveLength(1);
  });

  it('keeps one available record per copy and one copy per available record', async () => {
    const available = await inventory(config, endpoint, { status: 'available' });
    const copies = await backupCopies(backupRds);
    expect(available.length).toBeGreaterThanOrEqual(3);
    expect(copies.map((c) => c.DBSnapshotIdentifier).sort()).toEqual(available.map((r) => r.targetId).sort());
    expect(firstRun.byStatus).toMatchObject({ expected: 0, copying: 0, failed: 0 });
  });

  it('does not copy the snapshots of a database outside the scope', async () => {
    const copies = await backupCopies(backupRds);
    expect(copies.map((c) => tagsOf(c)[TAG_SOURCE_DB])).not.toContain('scratch');
    const intermediates = (await ownSnapshots(sourceRds)).filter((s) =>
      s.DBSnapshotIdentifier?.startsWith(`${INTERMEDIATE_PREFIX}-`),
    );
    expect(intermediates.map((s) => s.DBInstanceIdentifier)).not.toContain('scratch');
    const accepted = (await inventory(config, endpoint)).filter((r) => r.status !== 'rejected');
    expect(accepted.map((r) => r.sourceResourceId)).not.toContain('scratch');
    // The in-scope databases were all copied: the check above is not vacuous.
    expect(new Set(copies.map((c) => tagsOf(c)[TAG_SOURCE_DB]))).toEqual(new Set(['orders', 'reports', 'billing']));
  });

  it('re-keys an automated snapshot and a manual one under the default aws/rds key, shares them and copies them', async () => {
    const automated = [...productionBefore.values()].find(
      (s) => s.DBInstanceIdentifier === 'reports' && s.SnapshotType === 'automated',
    );
    const defaultKeyManual = productionBefore.get('billing-manual');
    expect(automated?.DBSnapshotIdentifier).toMatch(/^rds:/);
    expect(defaultKeyManual?.KmsKeyId).toBe('default_kms_key_id');

    for (const original of [automated, defaultKeyManual]) {
      const intermediateId = intermediateSnapshotId(original?.DBSnapshotIdentifier ?? '');
      expect(intermediateId.startsWith(`${INTERMEDIATE_PREFIX}-`)).toBe(true);
      const intermediate = await describeSnapshot(sourceRds, intermediateId);
      sameKey(intermediate.KmsKeyId, env.sources[0].shareKeyArn);
      expect(await restoreAttribute(sourceRds, intermediateId)).toEqual([backup]);

      const copies = await copiesOf(backupRds, intermediateId);
      expect(copies).toHaveLength(1);
      expect(copies[0].Status).toBe('available');
      sameKey(copies[0].KmsKeyId, env.backupKeyArn);
      const [record] = await inventory(config, endpoint).then((all) =>
        all.filter((r) => r.sourceArn === intermediate.DBSnapshotArn),
      );
      expect(record).toMatchObject({ status: 'available', targetId: copies[0].DBSnapshotIdentifier });
    }
  });

  it("shares each intermediate with the backup account only and leaves production's own snapshots untouched", async () => {
    const now = await ownSnapshots(sourceRds);
    const intermediates = now.filter((s) => s.DBSnapshotIdentifier?.startsWith(`${INTERMEDIATE_PREFIX}-`));
    expect(intermediates.length).toBeGreaterThanOrEqual(3);
    for (const intermediate of intermediates) {
      expect(await restoreAttribute(sourceRds, intermediate.DBSnapshotIdentifier ?? '')).toEqual([backup]);
    }
    for (const [id, before] of productionBefore) {
      const after = now.find((s) => s.DBSnapshotIdentifier === id);
      expect(after, id).toBeDefined();
      expect(await restoreAttribute(sourceRds, id), id).toEqual([]);
      expect(after?.KmsKeyId, id).toBe(before.KmsKeyId);
      expect(tagsOf(after as DBSnapshot), id).toEqual(tagsOf(before));
      expect(tagsOf(after as DBSnapshot)[TAG_NOTIFIED_AT], id).toBeUndefined();
    }
  });

  it('records when production took the snapshot, not when the agent re-keyed it', async () => {
    const original = productionBefore.get('orders-manual');
    const intermediate = await describeSnapshot(sourceRds, intermediateSnapshotId('orders-manual'));
    // The emulator keeps the two times apart, so the check below can tell them apart.
    expect(intermediate.SnapshotCreateTime?.toISOString()).not.toBe(original?.SnapshotCreateTime?.toISOString());

    const record = (await inventory(config, endpoint)).find((r) => r.sourceArn === intermediate.DBSnapshotArn);
    expect(record?.sourceCreatedAt).toBe(original?.SnapshotCreateTime?.toISOString());
  });

  it('rejects a notification from an unregistered account that really shared a snapshot, and copies nothing of it', async () => {
    const rejected = (await inventory(config, endpoint, { status: 'rejected' })).filter(
      (r) => r.sourceArn === intruderArn,
    );
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason).toContain(intruder);
    expect(rejected[0].reason).toMatch(/not a registered source account/);
    expect(rejected[0].artifactId).toMatch(/^rejected:/);
    expect((await inventory(config, endpoint)).map((r) => r.artifactId)).not.toContain(rdsArtifactId(intruderArn));
    const copies = await backupCopies(backupRds);
    expect(copies.map((c) => tagsOf(c)[TAG_SOURCE_ACCOUNT])).not.toContain(intruder);
  });

  it('rejects a notification of a snapshot its source never shared, and copies nothing of it', async () => {
    const rejected = (await inventory(config, endpoint, { status: 'rejected' })).filter(
      (r) => r.sourceArn === unsharedArn,
    );
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason).toMatch(/scratch-never-shared is not shared with the backup account/);
    expect(rejected[0].sourceAccount).toBe(source);
    expect((await inventory(config, endpoint)).map((r) => r.artifactId)).not.toContain(rdsArtifactId(unsharedArn));
    expect(await copiesOf(backupRds, 'scratch-never-shared')).toEqual([]);
  });

  it('absorbs duplicate notifications: still one copy and one record per snapshot', async () => {
    const recordsBefore = await inventory(config, endpoint);
    const copiesBefore = await backupCopies(backupRds);
    const intermediate = await describeSnapshot(sourceRds, intermediateSnapshotId('orders-manual'));
    const duplicate = notificationBody(source, intermediate.DBSnapshotArn ?? '');
    await publish(aws.sns(source), env.topicArn, duplicate);
    await publish(aws.sns(source), env.topicArn, duplicate);

    const secondRun = await localRun(config, endpoint);

    expect(secondRun.messagesProcessed).toBe(2);
    expect(secondRun.settled).toBe(true);
    const copiesAfter = await backupCopies(backupRds);
    expect(copiesAfter.map((c) => c.DBSnapshotIdentifier).sort()).toEqual(
      copiesBefore.map((c) => c.DBSnapshotIdentifier).sort(),
    );
    expect(await copiesOf(backupRds, intermediate.DBSnapshotIdentifier ?? '')).toHaveLength(1);
    const recordsAfter = await inventory(config, endpoint);
    expect(recordsAfter).toEqual(recordsBefore);
  });
});

describe('the intake handler on SQS batches', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const config: BunkerConfig = bunkerConfig(backup, [source]);
  const backupRds = aws.rds(backup);
  const sourceRds = aws.rds(source);
  let env: LocalEnvironment;
  let deps: IntakeDeps;

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    deps = await realVaultDeps(config, env, endpoint);
    // Out of scope for the agent: these tests announce by hand what the agent would.
    await createDatabase(sourceRds, { id: 'ledger', inScope: false, kmsKeyId: env.sources[0].shareKeyArn });
  });

  afterAll(() => aws.destroy());

  /** A snapshot of the source's database, shared with the backup account, and its notification. */
  async function announced(snapshotId: string): Promise<{ arn: string; body: string; targetId: string }> {
    const arn = await createSnapshot(sourceRds, 'ledger', snapshotId);
    await shareSnapshot(sourceRds, snapshotId, backup);
    return { arn, body: notificationBody(source, arn), targetId: backupSnapshotId(arn) };
  }

  const recordOf = async (arn: string): Promise<InventoryRecord | undefined> => deps.inventory.get(rdsArtifactId(arn));

  it('consumes malformed and oversized messages in the same batch as a good one, records why, and copies the good one', async () => {
    const good = await announced('ledger-batch');
    const malformed = '{"version": 1, "kind": "rds-snapshot", ';
    const oversized = JSON.stringify({ ...JSON.parse(good.body), padding: 'x'.repeat(MAX_NOTIFICATION_BYTES) });
    const wrongVersion = JSON.stringify({ ...JSON.parse(good.body), version: 2 });
    const handler = createRdsIntakeHandler(deps);

    const response = await handler(sqsEvent([malformed, oversized, good.body, wrongVersion]));

    expect(response.batchItemFailures).toEqual([]);
    const copies = await copiesOf(backupRds, 'ledger-batch');
    expect(copies.map((c) => c.DBSnapshotIdentifier)).toEqual([good.targetId]);
    expect(await recordOf(good.arn)).toMatchObject({ status: 'available', targetId: good.targetId });
    const rejections = await Promise.all(
      [malformed, oversized, wrongVersion].map((b) => deps.inventory.get(rejectionId(b))),
    );
    expect(rejections.map((r) => r?.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(rejections[0]?.reason).toBe('message is not JSON');
    expect(rejections[1]?.reason).toMatch(/^message too large: \d+ bytes, limit 4096$/);
    expect(rejections[2]?.reason).toMatch(/version: expected version 1/);
    // A rejected message never takes the key of the real copy it imitates.
    expect(rejections.map((r) => r?.artifactId)).not.toContain(rdsArtifactId(good.arn));
  });

  it('makes one copy of a notification delivered twice in the same batch', async () => {
    const good = await announced('ledger-twice');

    const response = await createRdsIntakeHandler(deps)(sqsEvent([good.body, good.body]));

    expect(response.batchItemFailures).toEqual([]);
    expect((await copiesOf(backupRds, 'ledger-twice')).map((c) => c.DBSnapshotIdentifier)).toEqual([good.targetId]);
    // copyAttempts may be 2: a duplicate that sees the claim before the claimer asked RDS takes it for a
    // crashed claimer and asks again, which the deterministic target name turns into "exists".
    expect(await recordOf(good.arn)).toMatchObject({ status: 'available', targetId: good.targetId });
  });

  it('finds the copy on redelivery after a crash between the copy request and the inventory update (fault-injecting store wrapper)', async () => {
    const crashing = await announced('ledger-crash-after-copy');
    const bystander = await announced('ledger-bystander');
    // The first look at the crashing copy after it was requested dies, as a Lambda timeout would.
    let crashed = false;
    const store: BackupSnapshotStore = {
      copyShared: (request) => deps.backupStore.copyShared(request),
      describe: async (targetId) => {
        if (!crashed && targetId === crashing.targetId) {
          crashed = true;
          throw new Error('simulated crash after the copy was requested');
        }
        return deps.backupStore.describe(targetId);
      },
    };
    const handler = createRdsIntakeHandler({ ...deps, backupStore: store });
    const event = sqsEvent([crashing.body, bystander.body]);

    const first = await handler(event);

    expect(first.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0].messageId }]);
    expect(await copiesOf(backupRds, 'ledger-crash-after-copy')).toHaveLength(1);
    expect((await recordOf(crashing.arn))?.status).toBe('copying');
    // The rest of the batch went on.
    expect(await recordOf(bystander.arn)).toMatchObject({ status: 'available' });

    const retry = await handler(sqsEvent([crashing.body]));

    expect(retry.batchItemFailures).toEqual([]);
    const copies = await copiesOf(backupRds, 'ledger-crash-after-copy');
    expect(copies.map((c) => c.DBSnapshotIdentifier)).toEqual([crashing.targetId]);
    expect(await recordOf(crashing.arn)).toMatchObject({
      status: 'available',
      targetArn: copies[0].DBSnapshotArn,
      copyAttempts: 1,
    });
  });

  it('requests the copy on redelivery after a crash between the claim and the copy request (fault-injecting store wrapper)', async () => {
    const crashing = await announced('ledger-crash-before-copy');
    let crashed = false;
    const store: BackupSnapshotStore = {
      copyShared: async (request) => {
        if (!crashed) {
          crashed = true;
          throw new Error('simulated crash before the copy was requested');
        }
        return deps.backupStore.copyShared(request);
      },
      describe: (targetId) => deps.backupStore.describe(targetId),
    };
    const handler = createRdsIntakeHandler({ ...deps, backupStore: store });
    const event = sqsEvent([crashing.body]);

    expect((await handler(event)).batchItemFailures).toEqual([{ itemIdentifier: event.Records[0].messageId }]);
    expect(await copiesOf(backupRds, 'ledger-crash-before-copy')).toEqual([]);
    expect((await recordOf(crashing.arn))?.status).toBe('copying');

    expect((await handler(sqsEvent([crashing.body]))).batchItemFailures).toEqual([]);

    expect((await copiesOf(backupRds, 'ledger-crash-before-copy')).map((c) => c.DBSnapshotIdentifier)).toEqual([
      crashing.targetId,
    ]);
    expect(await recordOf(crashing.arn)).toMatchObject({ status: 'available', copyAttempts: 2 });
  });

  it('marks the record failed, never available, when the source unshares between the check and the copy (reader wrapper removes the share)', async () => {
    const racing = await announced('ledger-unshared-in-between');
    // Intake's Describe sees the share; the source withdraws it right after, before the copy.
    const reader: SourceSnapshotReader = {
      describe: async (account, region, arn) => {
        const view = await deps.sourceReader.describe(account, region, arn);
        await unshareSnapshot(sourceRds, 'ledger-unshared-in-between', backup);
        return view;
      },
    };
    const handler = createRdsIntakeHandler({ ...deps, sourceReader: reader });

    const response = await handler(sqsEvent([racing.body]));

    expect(response.batchItemFailures).toEqual([]);
    const record = await recordOf(racing.arn);
    expect(record?.status).toBe('failed');
    expect(record?.reason).toMatch(/refused the copy/);
    expect(record?.reason).toMatch(/DBSnapshotNotFound/);
    expect(await copiesOf(backupRds, 'ledger-unshared-in-between')).toEqual([]);

    // The rest of the pipeline (agents, completion events, sweep) does not turn it into a copy either.
    const run = await localRun(config, endpoint);
    expect(run.settled).toBe(true);
    const after = await recordOf(racing.arn);
    expect(after?.status).toBe('failed');
    expect(after?.history.map((h) => h.status)).not.toContain('available');
    expect(await copiesOf(backupRds, 'ledger-unshared-in-between')).toEqual([]);
  });
});
