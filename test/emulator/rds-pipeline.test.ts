/**
 * The RDS pipeline end to end on the emulator: source agents, the intake
 * topics and queue, intake, copies and completion, with the real SDK clients
 * over HTTP and real STS AssumeRole into every account. Every assertion reads
 * the emulator's state back: the backup account's snapshots with its own
 * credentials, and the inventory table.
 *
 * Two environments, each on fresh accounts: one driven by `localRun` (the
 * whole pipeline, as `bunker local run` drives it), one driving the intake
 * handler on the real intake queue, fed by SNS, batch by batch, where a
 * fault-injecting wrapper around a real copier stands in for a crash or a race.
 *
 * Every cross-account copy relies on the launcher's cross-account RDS
 * snapshot sharing, hence the describe blocks' names.
 */
import type { DBSnapshot, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRunSummary, localRun } from '../../cli/local/run';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { CallCounter, countCalls } from '../../lambdas/adapters/aws-context';
import { kmsKeyIdOf } from '../../lambdas/core/keys';
import { CopyQuotaExceededError } from '../../lambdas/core/errors';
import { INTERMEDIATE_PREFIX, intermediateSnapshotId, rejectionId, vaultNames } from '../../lambdas/core/names';
import { backlogTurn, reportsBacklog } from '../../lambdas/core/pipeline/backlog';
import type { VaultDeps } from '../../lambdas/core/pipeline/copy';
import { RingMemory } from '../../lambdas/core/pipeline/schedule';
import type { Clock } from '../../lambdas/core/ports';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import { createSweepHandler } from '../../lambdas/handlers/sweep';
import { rdsSnapshot } from '../../lambdas/kinds/rds-snapshot/kind';
import type { ArtifactCopier, ArtifactRef } from '../../lambdas/kinds/types';
import type { BunkerConfig } from '../../lib/config/schema';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import {
  bunkerConfig,
  createDatabase,
  createKey,
  createSnapshot,
  deliveryOf,
  describeSnapshot,
  type IntakeQueue,
  intakeQueue,
  inventory,
  notificationV1,
  notificationV2,
  ownSnapshots,
  publish,
  REGION,
  realVaultDeps,
  restoreAttribute,
  shareSnapshot,
  TestClients,
  tagsOf,
  unshareSnapshot,
} from './support/bunker';

/** The backup account's copies made by Bunker. */
async function backupCopies(rds: RDSClient): Promise<DBSnapshot[]> {
  return (await ownSnapshots(rds)).filter((s) => tagsOf(s)['bunker:managed-by'] === 'bunker');
}

/** The backup copies of one shared source snapshot (by the id the copy's tags name). */
async function copiesOf(rds: RDSClient, sourceId: string): Promise<DBSnapshot[]> {
  return (await backupCopies(rds)).filter((s) => tagsOf(s)['bunker:source-id'] === sourceId);
}

const sameKey = (a: string | undefined, b: string | undefined) => {
  expect(kmsKeyIdOf(a)).toBeDefined();
  expect(kmsKeyIdOf(a)).toBe(kmsKeyIdOf(b));
};

/** The agent's intermediate of the manual snapshot `orders-manual` (its name hashes the production id). */
const ORDERS_INTERMEDIATE = 'bunker-share-orders-manual-4c2001710a';

describe('a backup cycle driven by localRun (bunker moto launcher)', () => {
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

  beforeAll(async () => {
    // The intruder was a source once: its intake topic is still there, subscribed to the intake queue.
    const former = await localUp(bunkerConfig(backup, [source, intruder]), endpoint);
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
    await createSnapshot(sourceRds, 'scratch', 'scratch-never-shared');
    await publish(aws.sns(source), env.topicArns[source], notificationV2(source, 'scratch-never-shared'));

    // An account no longer registered really shares a snapshot with the backup account and announces it,
    // on the intake topic it had and on a registered source's topic.
    const intruderRds = aws.rds(intruder);
    await createDatabase(intruderRds, { id: 'planted-db', inScope: true });
    await createSnapshot(intruderRds, 'planted-db', 'planted');
    await shareSnapshot(intruderRds, 'planted', backup);
    await publish(aws.sns(intruder), former.topicArns[intruder], notificationV2(intruder, 'planted'));
    await publish(aws.sns(intruder), env.topicArns[source], notificationV2(intruder, 'planted'));

    firstRun = await localRun(config, endpoint);
  });

  afterAll(() => aws.destroy());

  it('copies a tagged database snapshot once into the backup account, under the backup-data key, tagged with its source', async () => {
    expect(firstRun.settled).toBe(true);
    expect(intermediateSnapshotId('orders-manual')).toBe(ORDERS_INTERMEDIATE);
    const intermediateArn = `arn:aws:rds:eu-west-1:${source}:snapshot:${ORDERS_INTERMEDIATE}`;
    expect((await describeSnapshot(sourceRds, ORDERS_INTERMEDIATE)).DBSnapshotArn).toBe(intermediateArn);
    const copies = await copiesOf(backupRds, ORDERS_INTERMEDIATE);

    expect(copies).toHaveLength(1);
    const [copy] = copies;
    const copyName = copy.DBSnapshotIdentifier ?? '';
    // The kind's deterministic name: the source account and snapshot, and a hash of the artifact.
    expect(copyName).toMatch(new RegExp(`^bunker-${source}-orders-manual-4c2001710a-[0-9a-f]{10}$`));
    const ref: ArtifactRef = {
      kind: 'rds-snapshot',
      partition: 'aws',
      account: source,
      region: 'eu-west-1',
      id: ORDERS_INTERMEDIATE,
    };
    expect(copyName).toBe(rdsSnapshot.targetName(ref, 0));
    expect(copy.DBSnapshotArn).toBe(`arn:aws:rds:eu-west-1:${backup}:snapshot:${copyName}`);
    expect(copy.Status).toBe('available');
    expect(copy.Encrypted).toBe(true);
    sameKey(copy.KmsKeyId, env.backupKeyArn);
    expect(tagsOf(copy)).toEqual({
      'bunker:managed-by': 'bunker',
      'bunker:kind': 'rds-snapshot',
      'bunker:source-account': source,
      'bunker:source-region': 'eu-west-1',
      'bunker:source-id': ORDERS_INTERMEDIATE,
      'bunker:source-resource': 'orders',
      'bunker:copy-name': copyName,
    });

    const records = await inventory(config, endpoint);
    const record = records.find((r) => r.artifactId === `rds-snapshot:${source}:eu-west-1:${ORDERS_INTERMEDIATE}`);
    expect(record).toMatchObject({
      status: 'available',
      kind: 'rds-snapshot',
      sourceAccount: source,
      sourceRegion: 'eu-west-1',
      sourceId: ORDERS_INTERMEDIATE,
      sourceArn: intermediateArn,
      sourceResourceId: 'orders',
      sourceSnapshotId: 'orders-manual',
      engine: 'postgres',
      sizeGiB: 20,
      targetName: copyName,
      targetId: copyName,
      targetArn: copy.DBSnapshotArn,
      targetRegion: 'eu-west-1',
      pool: 'rds-snapshot@eu-west-1',
      kmsKeyArn: env.backupKeyArn,
      copyAttempts: 1,
      failures: 0,
    });
    // Exactly one record per source snapshot.
    expect(records.filter((r) => r.sourceArn === intermediateArn)).toHaveLength(1);
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
    expect(copies.map((c) => tagsOf(c)['bunker:source-resource'])).not.toContain('scratch');
    const intermediates = (await ownSnapshots(sourceRds)).filter((s) =>
      s.DBSnapshotIdentifier?.startsWith(`${INTERMEDIATE_PREFIX}-`),
    );
    expect(intermediates.map((s) => s.DBInstanceIdentifier)).not.toContain('scratch');
    const accepted = (await inventory(config, endpoint)).filter((r) => r.status !== 'rejected');
    expect(accepted.map((r) => r.sourceResourceId)).not.toContain('scratch');
    // The in-scope databases were all copied: the check above is not vacuous.
    expect(new Set(copies.map((c) => tagsOf(c)['bunker:source-resource']))).toEqual(
      new Set(['orders', 'reports', 'billing']),
    );
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
      expect(record).toMatchObject({
        status: 'available',
        sourceSnapshotId: original?.DBSnapshotIdentifier,
        targetId: copies[0].DBSnapshotIdentifier,
      });
    }
  });

  it("shares each intermediate with the backup account only and leaves production's own snapshots untouched but for one tag", async () => {
    const now = await ownSnapshots(sourceRds);
    const intermediates = now.filter((s) => s.DBSnapshotIdentifier?.startsWith(`${INTERMEDIATE_PREFIX}-`));
    expect(intermediates.length).toBeGreaterThanOrEqual(3);
    for (const intermediate of intermediates) {
      expect(await restoreAttribute(sourceRds, intermediate.DBSnapshotIdentifier ?? '')).toEqual([backup]);
    }
    const copiedOriginals = new Set(
      intermediates.filter((s) => tagsOf(s)['bunker:copied-at']).map((s) => tagsOf(s)['bunker:source-snapshot']),
    );
    expect(copiedOriginals.size).toBeGreaterThanOrEqual(3);
    for (const [id, before] of productionBefore) {
      const after = now.find((s) => s.DBSnapshotIdentifier === id);
      expect(after, id).toBeDefined();
      expect(await restoreAttribute(sourceRds, id), id).toEqual([]);
      expect(after?.KmsKeyId, id).toBe(before.KmsKeyId);
      // The one change the agent makes to production's own: the tag that says the vault holds its copy.
      const { 'bunker:backed-up-at': backedUpAt, ...rest } = tagsOf(after as DBSnapshot);
      expect(rest, id).toEqual(tagsOf(before));
      // Set on exactly the originals the vault holds a copy of.
      expect(backedUpAt !== undefined, id).toBe(copiedOriginals.has(id));
      expect(tagsOf(after as DBSnapshot)['bunker:notified-at'], id).toBeUndefined();
    }
  });

  it('records when production took the snapshot, not when the agent re-keyed it', async () => {
    const original = productionBefore.get('orders-manual');
    const intermediate = await describeSnapshot(sourceRds, ORDERS_INTERMEDIATE);
    // The emulator keeps the two times apart, so the check below can tell them apart.
    expect(intermediate.SnapshotCreateTime?.toISOString()).not.toBe(original?.SnapshotCreateTime?.toISOString());

    const record = (await inventory(config, endpoint)).find((r) => r.sourceArn === intermediate.DBSnapshotArn);
    expect(record?.sourceCreatedAt).toBe(original?.SnapshotCreateTime?.toISOString());
  });

  it('rejects the notifications of an account that is no longer registered and really shared a snapshot, whichever topic carried them, and copies nothing of it', async () => {
    const rejected = (await inventory(config, endpoint, { status: 'rejected' }))
      .filter((r) => r.reason?.includes(intruder))
      .map((r) => ({ kind: r.kind, reason: r.reason, sourceAccount: r.sourceAccount }))
      .sort((a, b) => (a.reason ?? '').localeCompare(b.reason ?? ''));

    expect(rejected).toEqual([
      {
        kind: 'unknown',
        reason: `delivered through arn:aws:sns:eu-west-1:${backup}:bunker-intake-${intruder}, not the intake topic of a registered source account`,
        sourceAccount: undefined,
      },
      {
        kind: 'unknown',
        reason: `names account ${intruder} but was published on the intake topic of account ${source}`,
        sourceAccount: source,
      },
    ]);
    const ids = (await inventory(config, endpoint)).map((r) => r.artifactId);
    expect(ids).not.toContain(`rds-snapshot:${intruder}:eu-west-1:planted`);
    const copies = await backupCopies(backupRds);
    expect(copies.map((c) => tagsOf(c)['bunker:source-account'])).not.toContain(intruder);
    expect(copies.map((c) => tagsOf(c)['bunker:source-id'])).not.toContain('planted');
  });

  it('rejects a notification of a snapshot its source never shared, and copies nothing of it', async () => {
    const rejected = (await inventory(config, endpoint, { status: 'rejected' })).filter((r) =>
      r.reason?.includes('scratch-never-shared'),
    );
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      kind: 'unknown',
      reason: `RDS DB snapshot scratch-never-shared is not shared with the backup account ${backup}`,
      sourceAccount: source,
    });
    expect(rejected[0].artifactId).toMatch(/^rejected:[0-9a-f]{32}$/);
    expect((await inventory(config, endpoint)).map((r) => r.artifactId)).not.toContain(
      `rds-snapshot:${source}:eu-west-1:scratch-never-shared`,
    );
    expect(await copiesOf(backupRds, 'scratch-never-shared')).toEqual([]);
  });

  it('absorbs duplicate notifications: still one copy and one record per snapshot', async () => {
    const recordsBefore = await inventory(config, endpoint);
    const copiesBefore = await backupCopies(backupRds);
    const duplicate = notificationV2(source, ORDERS_INTERMEDIATE);
    await publish(aws.sns(source), env.topicArns[source], duplicate);
    await publish(aws.sns(source), env.topicArns[source], duplicate);

    const secondRun = await localRun(config, endpoint);

    expect(secondRun.messagesProcessed).toBe(2);
    expect(secondRun.settled).toBe(true);
    const copiesAfter = await backupCopies(backupRds);
    expect(copiesAfter.map((c) => c.DBSnapshotIdentifier).sort()).toEqual(
      copiesBefore.map((c) => c.DBSnapshotIdentifier).sort(),
    );
    expect(await copiesOf(backupRds, ORDERS_INTERMEDIATE)).toHaveLength(1);
    const recordsAfter = await inventory(config, endpoint);
    expect(recordsAfter).toEqual(recordsBefore);
  });
});

describe('the intake handler on the intake queue (bunker moto launcher)', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const sibling = freshAccountId();
  const config: BunkerConfig = bunkerConfig(backup, [source, sibling]);
  const backupRds = aws.rds(backup);
  const sourceRds = aws.rds(source);
  let env: LocalEnvironment;
  let deps: VaultDeps;
  let queue: IntakeQueue;

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    deps = await realVaultDeps(config, env, endpoint);
    queue = intakeQueue(config, env, aws.sqs(backup));
    // These tests share and announce by hand what the source agent would; only the last one runs the agents.
    await createDatabase(sourceRds, { id: 'ledger', inScope: true, kmsKeyId: env.sources[0].shareKeyArn });
    await createDatabase(sourceRds, { id: 'scratch', inScope: false, kmsKeyId: env.sources[0].shareKeyArn });
  });

  afterAll(() => aws.destroy());

  interface Announced {
    readonly artifactId: string;
    readonly arn: string;
    readonly notification: string;
    readonly targetName: string;
  }

  /**
   * A snapshot of one of the source's databases, shared with the backup
   * account, and its v2 notification. By default each snapshot is of an
   * in-scope database of its own: copies of one database hold one copy
   * slot between them, and a test's copy left in progress must not hold up
   * the next test's.
   */
  async function shared(snapshotId: string, database?: string): Promise<Announced> {
    if (!database) {
      database = `db-${snapshotId}`;
      await createDatabase(sourceRds, { id: database, inScope: true, kmsKeyId: env.sources[0].shareKeyArn });
    }
    const arn = await createSnapshot(sourceRds, database, snapshotId);
    await shareSnapshot(sourceRds, snapshotId, backup);
    const ref: ArtifactRef = {
      kind: 'rds-snapshot',
      partition: 'aws',
      account: source,
      region: REGION,
      id: snapshotId,
    };
    return {
      artifactId: `rds-snapshot:${source}:eu-west-1:${snapshotId}`,
      arn,
      notification: notificationV2(source, snapshotId),
      targetName: rdsSnapshot.targetName(ref, 0),
    };
  }

  /** Publishes on the source's own intake topic, as its agent does. */
  const publishAsSource = (message: string) => publish(aws.sns(source), env.topicArns[source], message);

  const recordOf = (id: string): Promise<InventoryRecord | undefined> => deps.inventory.get(id);

  /** The real copier of RDS DB snapshots (of `base`, the shared deps by default) with some of its calls replaced. */
  function withCopier(replace: (real: ArtifactCopier) => Partial<ArtifactCopier>, base: VaultDeps = deps): VaultDeps {
    const real = base.copiers['rds-snapshot'];
    const readResource = real.resourceScopeTags?.bind(real);
    const copier: ArtifactCopier = {
      kind: real.kind,
      describeSource: (ref) => real.describeSource(ref),
      // The DB instance's tags, which intake reads when the snapshot carries no scope tag of the agent's.
      ...(readResource ? { resourceScopeTags: readResource } : {}),
      listShared: (region, accounts) => real.listShared(region, accounts),
      copy: (request) => real.copy(request),
      describeCopy: (location) => real.describeCopy(location),
      ...replace(real),
    };
    return { ...base, copiers: { ...base.copiers, 'rds-snapshot': copier } };
  }

  it('consumes malformed, oversized, unsupported and unenveloped messages in the same batch as a good one, records why, and copies the good one', async () => {
    const good = await shared('ledger-batch');
    const malformed = '{"version": 2, "kind": "rds-snapshot", ';
    const oversized = JSON.stringify({ ...JSON.parse(good.notification), padding: 'x'.repeat(4096) });
    const unsupported = JSON.stringify({ ...JSON.parse(good.notification), version: 3 });
    for (const message of [malformed, oversized, good.notification, unsupported]) await publishAsSource(message);
    // The good notification once more, sent to the queue directly: no SNS envelope says who sent it.
    await queue.sendDirectly(good.notification);

    const { event, response } = await queue.deliver(createIntakeHandler(deps), 5);

    expect(response.batchItemFailures).toEqual([]);
    const copies = await copiesOf(backupRds, 'ledger-batch');
    expect(copies.map((c) => c.DBSnapshotIdentifier)).toEqual([good.targetName]);
    expect(await recordOf(good.artifactId)).toMatchObject({ status: 'available', targetId: good.targetName });
    const rejectionOf = (body: string) => recordOf(rejectionId(body));
    const rejections = await Promise.all([
      rejectionOf(deliveryOf(event, malformed).body),
      rejectionOf(deliveryOf(event, oversized).body),
      rejectionOf(deliveryOf(event, unsupported).body),
      rejectionOf(good.notification),
    ]);
    expect(rejections.map((r) => ({ status: r?.status, reason: r?.reason, sourceAccount: r?.sourceAccount }))).toEqual([
      { status: 'rejected', reason: 'message is not JSON', sourceAccount: source },
      { status: 'rejected', reason: 'message too large: 4263 bytes, limit 4096', sourceAccount: source },
      {
        status: 'rejected',
        reason: 'unsupported notification version 3; supported: 1, 2',
        sourceAccount: source,
      },
      { status: 'rejected', reason: 'delivery is not an SNS notification envelope', sourceAccount: undefined },
    ]);
    // A rejected message never takes the key of the real copy it imitates.
    expect(rejections.map((r) => r?.artifactId)).not.toContain(good.artifactId);
  });

  it("accepts a version 1 notification (Bunker 0.1's format) and copies the snapshot it names", async () => {
    const announced = await shared('ledger-v1');
    await publishAsSource(notificationV1(source, announced.arn));

    const { response } = await queue.deliver(createIntakeHandler(deps), 1);

    expect(response.batchItemFailures).toEqual([]);
    expect((await copiesOf(backupRds, 'ledger-v1')).map((c) => c.DBSnapshotIdentifier)).toEqual([announced.targetName]);
    expect(await recordOf(announced.artifactId)).toMatchObject({
      status: 'available',
      sourceId: 'ledger-v1',
      sourceArn: `arn:aws:rds:eu-west-1:${source}:snapshot:ledger-v1`,
    });
  });

  it('makes one copy of a notification delivered twice in the same batch', async () => {
    const announced = await shared('ledger-twice');
    await publishAsSource(announced.notification);
    await publishAsSource(announced.notification);

    const { response } = await queue.deliver(createIntakeHandler(deps), 2);

    expect(response.batchItemFailures).toEqual([]);
    expect((await copiesOf(backupRds, 'ledger-twice')).map((c) => c.DBSnapshotIdentifier)).toEqual([
      announced.targetName,
    ]);
    // The duplicate finds the claim and leaves the copy to its claimer: one request.
    expect(await recordOf(announced.artifactId)).toMatchObject({
      status: 'available',
      targetId: announced.targetName,
      copyAttempts: 1,
    });
  });

  it('finds the copy on redelivery after a crash between the copy request and the inventory update (fault-injecting copier wrapper)', async () => {
    const crashing = await shared('ledger-crash-after-copy');
    const bystander = await shared('ledger-bystander');
    // The first look at the crashing copy after it was requested dies, as a Lambda timeout would.
    let crashed = false;
    const handler = createIntakeHandler(
      withCopier((real) => ({
        describeCopy: async (location) => {
          if (!crashed && location.targetName === crashing.targetName) {
            crashed = true;
            throw new Error('simulated crash after the copy was requested');
          }
          return real.describeCopy(location);
        },
      })),
    );
    await publishAsSource(crashing.notification);
    await publishAsSource(bystander.notification);

    const first = await queue.deliver(handler, 2);

    const crashedDelivery = deliveryOf(first.event, crashing.notification);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: crashedDelivery.messageId }]);
    expect(await copiesOf(backupRds, 'ledger-crash-after-copy')).toHaveLength(1);
    expect((await recordOf(crashing.artifactId))?.status).toBe('copying');
    // The rest of the batch went on.
    expect(await recordOf(bystander.artifactId)).toMatchObject({ status: 'available' });

    const retry = await queue.deliver(handler, 1);

    expect(retry.event.Records.map((r) => r.messageId)).toEqual([crashedDelivery.messageId]);
    expect(retry.response.batchItemFailures).toEqual([]);
    const copies = await copiesOf(backupRds, 'ledger-crash-after-copy');
    expect(copies.map((c) => c.DBSnapshotIdentifier)).toEqual([crashing.targetName]);
    expect(await recordOf(crashing.artifactId)).toMatchObject({
      status: 'available',
      targetArn: copies[0].DBSnapshotArn,
      copyAttempts: 1,
    });
  });

  it("requests the copy again after a crash between the claim and the copy request, once the claim's grace period is over (fault-injecting copier wrapper)", async () => {
    const crashing = await shared('ledger-crash-before-copy');
    let crashed = false;
    const crashingDeps = withCopier((real) => ({
      copy: async (request) => {
        if (!crashed) {
          crashed = true;
          throw new Error('simulated crash before the copy was requested');
        }
        return real.copy(request);
      },
    }));
    const handler = createIntakeHandler(crashingDeps);
    await publishAsSource(crashing.notification);

    const first = await queue.deliver(handler, 1);

    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: first.event.Records[0].messageId }]);
    expect(await copiesOf(backupRds, 'ledger-crash-before-copy')).toEqual([]);
    expect(await recordOf(crashing.artifactId)).toMatchObject({ status: 'copying', copyAttempts: 1 });

    // Redelivered at once: the claimer may still be about to ask, so the copy is left to it.
    const redelivered = await queue.deliver(handler, 1);

    expect(redelivered.response.batchItemFailures).toEqual([]);
    expect(await copiesOf(backupRds, 'ledger-crash-before-copy')).toEqual([]);
    expect(await recordOf(crashing.artifactId)).toMatchObject({ status: 'copying', copyAttempts: 1 });

    // Eleven minutes on, past the ten-minute grace, the sweep asks for the copy again.
    const later: Clock = { now: () => new Date(Date.now() + 11 * 60_000) };
    await createSweepHandler({ ...crashingDeps, clock: later })();

    expect((await copiesOf(backupRds, 'ledger-crash-before-copy')).map((c) => c.DBSnapshotIdentifier)).toEqual([
      crashing.targetName,
    ]);
    expect(await recordOf(crashing.artifactId)).toMatchObject({ status: 'available', copyAttempts: 2 });
  });

  it('rejects a notification that a registered account publishes on its own topic naming another registered account, attributes it to the publisher, and copies nothing', async () => {
    const lent = await shared('ledger-lent');
    await publish(aws.sns(sibling), env.topicArns[sibling], lent.notification);

    const { event, response } = await queue.deliver(createIntakeHandler(deps), 1);

    expect(response.batchItemFailures).toEqual([]);
    expect(await recordOf(rejectionId(event.Records[0].body))).toMatchObject({
      status: 'rejected',
      kind: 'unknown',
      reason: `names account ${source} but was published on the intake topic of account ${sibling}`,
      sourceAccount: sibling,
    });
    expect(await recordOf(lent.artifactId)).toBeUndefined();
    expect(await copiesOf(backupRds, 'ledger-lent')).toEqual([]);

    // The same notification on the source's own topic is copied: only the topic made the difference.
    await publishAsSource(lent.notification);
    expect((await queue.deliver(createIntakeHandler(deps), 1)).response.batchItemFailures).toEqual([]);
    expect((await copiesOf(backupRds, 'ledger-lent')).map((c) => c.DBSnapshotIdentifier)).toEqual([lent.targetName]);
  });

  it('rejects as out of scope a snapshot of an untagged database that its account shared by hand and announced, and copies nothing', async () => {
    const byHand = await shared('scratch-by-hand', 'scratch');
    await publishAsSource(byHand.notification);

    const { event, response } = await queue.deliver(createIntakeHandler(deps), 1);

    expect(response.batchItemFailures).toEqual([]);
    expect(await recordOf(rejectionId(event.Records[0].body))).toMatchObject({
      status: 'rejected',
      kind: 'unknown',
      reason: 'DB instance scratch is out of scope: it does not match the tag bunker:backup=true',
      sourceAccount: source,
    });
    expect(await recordOf(byHand.artifactId)).toBeUndefined();
    // Read independently, as the backup account: no snapshot of it, under any name.
    const backupSnapshots = await ownSnapshots(aws.rds(backup));
    expect(backupSnapshots.map((s) => s.DBSnapshotIdentifier)).not.toContain(byHand.targetName);
    expect(backupSnapshots.map((s) => tagsOf(s)['bunker:source-id'])).not.toContain('scratch-by-hand');
    expect(backupSnapshots.map((s) => tagsOf(s)['bunker:source-resource'])).not.toContain('scratch');
    expect(backupSnapshots.length).toBeGreaterThan(0);
  });

  it("records an announced source backlog on the board in the inventory table, and gives a slot freed on a backlog turn to the account with the longest backlog, not the ring's next (quota-deferring copier wrapper)", async () => {
    const sourceOf = (account: string) => env.sources.find((s) => s.account === account);
    /** The first of `<name>-1`, `<name>-2`, … of `account` whose artifact id `chosen` picks (a fixture, not a result). */
    const firstChosen = (name: string, account: string, chosen: (artifactId: string) => boolean) => {
      for (let n = 1; ; n += 1) if (chosen(`rds-snapshot:${account}:eu-west-1:${name}-${n}`)) return `${name}-${n}`;
    };
    // Intake records one backlog report in four and serves the longest backlog on one freed slot in two, by id.
    const held = await shared(firstChosen('ledger-held', source, reportsBacklog));
    const freeing = await shared(firstChosen('ledger-freeing', source, backlogTurn));
    const siblingRds = aws.rds(sibling);
    await createDatabase(siblingRds, { id: 'sibling-db', inScope: true, kmsKeyId: sourceOf(sibling)?.shareKeyArn });
    await createSnapshot(siblingRds, 'sibling-db', 'sibling-waiting');
    await shareSnapshot(siblingRds, 'sibling-waiting', backup);
    // AWS's own copy quota refuses the first two: they wait, as in a burst.
    const refusing = createIntakeHandler(
      withCopier(() => ({
        copy: async () => {
          throw new CopyQuotaExceededError('SnapshotQuotaExceeded: too many copies in progress');
        },
      })),
    );
    // The source's agent holds 40 originals back and says so with this intermediate.
    await publishAsSource(JSON.stringify({ ...JSON.parse(held.notification), sourceBacklog: 40 }));
    await publish(aws.sns(sibling), env.topicArns[sibling], notificationV2(sibling, 'sibling-waiting'));
    expect((await queue.deliver(refusing, 2)).response.batchItemFailures).toEqual([]);
    const board = await boto3<Record<string, unknown> | null>(
      endpoint,
      backup,
      `
from boto3.dynamodb.types import TypeDeserializer
d = TypeDeserializer()
item = client('dynamodb').get_item(TableName=ARGS['table'], Key={'artifactId': {'S': ARGS['key']}}).get('Item')
out({k: d.deserialize(v) for k, v in item.items()} if item else None)
`,
      { table: vaultNames(config.name).inventoryTable, key: `backlog:rds-snapshot@eu-west-1|${source}` },
    );
    const waitingBefore = (await deps.inventory.list({ status: 'expected' })).map((r) => r.artifactId);

    // A fresh container (no read of the board kept from an earlier test): its copy finishes at once and frees a slot.
    // No pool look (period 0): on the emulator the copy the turn starts is done at once, and a look would settle it and
    // start the sibling too; the look has its own tests (test/core/schedule-look.test.ts).
    await publishAsSource(freeing.notification);
    const { response } = await queue.deliver(createIntakeHandler({ ...deps, ring: new RingMemory(0) }), 1);

    expect(response.batchItemFailures).toEqual([]);
    expect(board).toMatchObject({
      account: source,
      backlog: '40',
      pool: 'rds-snapshot@eu-west-1',
      queue: 'backlog:rds-snapshot@eu-west-1',
      queueKey: `999959#${source}`,
    });
    expect(waitingBefore).toEqual(
      expect.arrayContaining([held.artifactId, `rds-snapshot:${sibling}:eu-west-1:sibling-waiting`]),
    );
    expect(await recordOf(freeing.artifactId)).toMatchObject({ status: 'available' });
    // The ring's next account after the source is the sibling, the only other; the backlog turn went to the source.
    const waitingAfter = (await deps.inventory.list({ status: 'expected' })).map((r) => r.artifactId);
    const started = waitingBefore.filter((id) => !waitingAfter.includes(id));
    expect(started).toHaveLength(1);
    expect(started[0].startsWith(`rds-snapshot:${source}:`)).toBe(true);
    expect(waitingAfter).toContain(`rds-snapshot:${sibling}:eu-west-1:sibling-waiting`);
    expect((await recordOf(started[0]))?.status).toBe('copying');
  });

  it("records an account's first long backlog on the board in the inventory table whatever its id, and not that container's next unchosen report; another container records its own first (quota-refusing copier wrapper)", async () => {
    const siblingRds = aws.rds(sibling);
    const siblingKey = env.sources.find((s) => s.account === sibling)?.shareKeyArn;
    await createDatabase(siblingRds, { id: 'sibling-long', inScope: true, kmsKeyId: siblingKey });
    /** Snapshots `<name>-1`, `<name>-2`, … whose artifact ids the one-in-four does not choose (a fixture, not a result). */
    const unchosen: string[] = [];
    for (let n = 1; unchosen.length < 3; n += 1) {
      if (!reportsBacklog(`rds-snapshot:${sibling}:eu-west-1:sibling-long-${n}`)) unchosen.push(`sibling-long-${n}`);
    }
    for (const id of unchosen) {
      await createSnapshot(siblingRds, 'sibling-long', id);
      await shareSnapshot(siblingRds, id, backup);
    }
    const announce = (id: string, sourceBacklog: number) =>
      publish(
        aws.sns(sibling),
        env.topicArns[sibling],
        JSON.stringify({ ...JSON.parse(notificationV2(sibling, id)), sourceBacklog }),
      );
    /** The sibling's board entry, read by boto3 from the inventory table. */
    const boardEntry = () =>
      boto3<Record<string, unknown> | null>(
        endpoint,
        backup,
        `
from boto3.dynamodb.types import TypeDeserializer
d = TypeDeserializer()
item = client('dynamodb').get_item(TableName=ARGS['table'], Key={'artifactId': {'S': ARGS['key']}}).get('Item')
out({k: str(d.deserialize(v)) for k, v in item.items() if k in ('account', 'backlog')} if item else None)
`,
        { table: vaultNames(config.name).inventoryTable, key: `backlog:rds-snapshot@eu-west-1|${sibling}` },
      );
    const refusingDeps = withCopier(() => ({
      copy: async () => {
        throw new CopyQuotaExceededError('SnapshotQuotaExceeded: too many copies in progress');
      },
    }));
    // One intake container (its ring memory), then another.
    const container = createIntakeHandler({ ...refusingDeps, ring: new RingMemory(0) });
    const before = await boardEntry();

    await announce(unchosen[0], 600);
    expect((await queue.deliver(container, 1)).response.batchItemFailures).toEqual([]);
    const afterFirst = await boardEntry();
    await announce(unchosen[1], 580);
    expect((await queue.deliver(container, 1)).response.batchItemFailures).toEqual([]);
    const afterSecond = await boardEntry();
    await announce(unchosen[2], 550);
    expect(
      (await queue.deliver(createIntakeHandler({ ...refusingDeps, ring: new RingMemory(0) }), 1)).response
        .batchItemFailures,
    ).toEqual([]);
    const afterOther = await boardEntry();

    expect(before).toBeNull();
    expect(afterFirst).toEqual({ account: sibling, backlog: '600' });
    // The same container's second report is neither chosen nor its first: the board keeps 600.
    expect(afterSecond).toEqual({ account: sibling, backlog: '600' });
    expect(afterOther).toEqual({ account: sibling, backlog: '550' });
    // Each was proved and recorded as a copy waiting for a slot, whatever the board did.
    for (const id of unchosen) {
      expect((await recordOf(`rds-snapshot:${sibling}:eu-west-1:${id}`))?.status).toBe('expected');
    }
  });

  it("records a second snapshot of a database whose copy the same container just claimed as waiting without a transaction DynamoDB would refuse; a fresh container's claim is refused (copier wrapper whose copies stay in progress)", async () => {
    const first = await shared('hinted-1', 'ledger');
    const second = await shared('hinted-2', 'ledger');
    const third = await shared('hinted-3', 'ledger');
    // The vault's clients built with a request counter installed, as a container builds them at cold start.
    const counter = new CallCounter();
    countCalls(counter);
    const counted = await realVaultDeps(config, env, endpoint);
    countCalls(undefined);
    const copying = withCopier(
      (real) => ({
        // The emulator's copies finish at once; AWS's take minutes: the first copy still holds the database's slot.
        describeCopy: async (location) => {
          const view = await real.describeCopy(location);
          return view && { ...view, state: 'pending' as const };
        },
      }),
      counted,
    );
    // One container (its ring memory; no look at the pool, which would settle the emulator's finished copy).
    const container = createIntakeHandler({ ...copying, ring: new RingMemory(0) });
    const transactions = () => counter.counts.get('DynamoDB:TransactWriteItems') ?? 0;

    await publishAsSource(first.notification);
    expect((await queue.deliver(container, 1)).response.batchItemFailures).toEqual([]);
    const claimsOfFirst = transactions();
    counter.reset();
    await publishAsSource(second.notification);
    expect((await queue.deliver(container, 1)).response.batchItemFailures).toEqual([]);
    const claimsOfSecond = transactions();
    const putsOfSecond = counter.counts.get('DynamoDB:PutItem') ?? 0;
    counter.reset();
    // Another container has not seen the first copy: it asks, and DynamoDB refuses the claim.
    await publishAsSource(third.notification);
    expect(
      (await queue.deliver(createIntakeHandler({ ...copying, ring: new RingMemory(0) }), 1)).response.batchItemFailures,
    ).toEqual([]);
    const claimsOfThird = transactions();

    expect(claimsOfFirst).toBe(1);
    expect(claimsOfSecond).toBe(0);
    expect(putsOfSecond).toBe(1);
    expect(claimsOfThird).toBe(1);
    // Read back by boto3 from the emulator's inventory table: one copy in flight, two waiting on it.
    const stored = await boto3<Record<string, { status: string; reason: string | null }>>(
      endpoint,
      backup,
      `
table = client('dynamodb')
got = {}
for artifact_id in ARGS['ids']:
    item = table.get_item(TableName=ARGS['table'], Key={'artifactId': {'S': artifact_id}}, ConsistentRead=True)['Item']
    got[artifact_id] = {'status': item['status']['S'], 'reason': item.get('reason', {}).get('S')}
out(got)
`,
      { table: vaultNames(config.name).inventoryTable, ids: [first.artifactId, second.artifactId, third.artifactId] },
    );
    const waiting = {
      status: 'expected',
      reason:
        'waiting for the copy of another snapshot of DB instance ledger to finish: AWS copies them one after another',
    };
    expect(stored).toEqual({
      [first.artifactId]: { status: 'copying', reason: null },
      [second.artifactId]: waiting,
      [third.artifactId]: waiting,
    });
  });

  it('marks the record failed, never available, when the source unshares between the check and the copy (fault-injecting copier wrapper)', async () => {
    const racing = await shared('ledger-unshared-in-between');
    // Intake's Describe sees the share; the source withdraws it right after, before the copy.
    const handler = createIntakeHandler(
      withCopier((real) => ({
        describeSource: async (ref) => {
          const view = await real.describeSource(ref);
          await unshareSnapshot(sourceRds, 'ledger-unshared-in-between', backup);
          return view;
        },
      })),
    );
    await publishAsSource(racing.notification);

    const { response } = await queue.deliver(handler, 1);

    expect(response.batchItemFailures).toEqual([]);
    const record = await recordOf(racing.artifactId);
    expect(record?.status).toBe('failed');
    expect(record?.reason).toBe(
      `RDS refused the copy: DBSnapshotNotFoundFault: DBSnapshot ${racing.arn} not found.; retry 2 of 3 after a backoff`,
    );
    expect(await copiesOf(backupRds, 'ledger-unshared-in-between')).toEqual([]);

    // The rest of the pipeline (agents, completion events, sweep) does not turn it into a copy either.
    const run = await localRun(config, endpoint);
    expect(run.settled).toBe(true);
    const after = await recordOf(racing.artifactId);
    expect(after?.status).toBe('failed');
    expect(after?.history.map((h) => h.status)).not.toContain('available');
    expect(await copiesOf(backupRds, 'ledger-unshared-in-between')).toEqual([]);
  });
});
