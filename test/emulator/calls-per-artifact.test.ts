/**
 * AWS requests per artifact, counted on the SDK clients the Lambdas build
 * (`CallCounter` on `clientConfig`), for every snapshot kind: N artifacts of
 * a kind go through the source agent's handler (artifact created,
 * intermediate copy finished), the intake handler, the completion handler
 * and the agent's receipt handler, and the requests each side made are
 * compared with the minimum of `docs/performance.md` (written here as
 * literals, not read from `MIN_CALLS_PER_ARTIFACT`).
 *
 * The test's own clients (setup, reading queues and the source's artifacts)
 * come from the test support's configuration and are not counted. The
 * emulator's copies are instant, so intake settles each copy and the
 * completion event finds it settled; the agent's cleanup (a delete, for an
 * AMI a deregistration and a delete per backing snapshot) is not run, so the
 * source side is measured against its minimum less the cleanup. Each image
 * here has one backing snapshot, as the minimum is written.
 */
import { CreateSnapshotCommand, CreateVolumeCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { CallCounter, countCalls } from '../../lambdas/adapters/aws-context';
import { agentDeps, vaultDeps } from '../../lambdas/adapters/wiring';
import { intermediateSnapshotId, sourceNames, vaultNames } from '../../lambdas/core/names';
import { silentLog } from '../../lambdas/core/ports';
import { createCompletionHandler } from '../../lambdas/handlers/completion';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import { createSourceAgentHandler } from '../../lambdas/handlers/source-agent';
import { KINDS } from '../../lambdas/kinds/registry';
import type { KindName } from '../../lambdas/kinds/types';
import { sourceSettings, vaultSettings } from '../../lib/config/runtime';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createCluster,
  createClusterSnapshot,
  createDatabase,
  createSnapshot,
  IN_SCOPE_TAG,
  inventory,
  intakeQueue,
  REGION,
  TestClients,
} from './support/bunker';
import { Ec2Accounts, ownImages, ownSnapshots, tagRecord } from './support/ec2';

const RATIO = 1.2;
/** Artifacts per kind: enough to spread the one-off requests (the reader role's AssumeRole, the agent's count). */
const N = 4;

const endpoint = emulatorEndpoint();
const aws = new TestClients(endpoint);
const ec2Accounts = new Ec2Accounts(endpoint);
const backup = freshAccountId();
const source = freshAccountId();
const ENABLED = { enabled: true } as const;
const config = bunkerConfig(backup, [source], {
  artifacts: { rds: ENABLED, aurora: ENABLED, ebs: ENABLED, ami: ENABLED },
});
const sourceRds = aws.rds(source);
const sourceEc2 = ec2Accounts.account(source);
const counter = new CallCounter();
let env: LocalEnvironment;

interface Measured {
  source: number;
  vault: number;
  readonly perOperation: Record<'source' | 'vault', Record<string, number>>;
}
const measured = new Map<KindName, Measured>();

/** An EventBridge event of the source account. */
const eventOf = (account: string, detailType: string, awsSource: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: `event-${Math.random().toString(16).slice(2)}`,
  'detail-type': detailType,
  source: awsSource,
  account,
  time: new Date().toISOString(),
  region: REGION,
  resources: [],
  detail,
});

const ebsEvent = (event: 'createSnapshot' | 'copySnapshot', id: string) =>
  eventOf(source, 'EBS Snapshot Notification', 'aws.ec2', {
    event,
    result: 'succeeded',
    snapshot_id: `arn:aws:ec2::${REGION}:snapshot/${id}`,
  });

/** What the test needs of one kind: minima as literals, artifacts made directly, the source's events. */
interface KindFixture {
  readonly kind: KindName;
  /** The source side's minimum per artifact (docs/performance.md) less the cleanup, which is not run here. */
  readonly minSourceWithoutCleanup: number;
  readonly minVault: number;
  /** N in-scope production artifacts, each of its own resource; their ids. */
  make(): Promise<string[]>;
  /** The event the source account's service sends when the production artifact is ready. */
  created(id: string): unknown;
  /** The event it sends when the agent's intermediate of `id` is ready. */
  finished(id: string): Promise<unknown>;
}

const rds: KindFixture = {
  kind: 'rds-snapshot',
  minSourceWithoutCleanup: 10,
  // Intake reads no DB instance: the intermediate carries its scope tag.
  minVault: 10,
  async make() {
    // One snapshot per database, as a night's automated snapshots are: copies of one database would
    // wait for each other, which costs a refused claim and a waiting record each (docs/performance.md).
    const ids = Array.from({ length: N }, (_, i) => `orders-${i}`);
    for (const id of ids) {
      await createDatabase(sourceRds, { id: `db-${id}`, inScope: true, kmsKeyId: env.sources[0].shareKeyArn });
      await createSnapshot(sourceRds, `db-${id}`, id);
    }
    return ids;
  },
  created: (id) =>
    eventOf(source, 'RDS DB Snapshot Event', 'aws.rds', { SourceIdentifier: id, EventID: 'RDS-EVENT-0042' }),
  finished: async (id) =>
    eventOf(source, 'RDS DB Snapshot Event', 'aws.rds', {
      SourceIdentifier: intermediateSnapshotId(id),
      EventID: 'RDS-EVENT-0197',
    }),
};

const aurora: KindFixture = {
  kind: 'aurora-cluster-snapshot',
  minSourceWithoutCleanup: 10,
  minVault: 10,
  async make() {
    const ids = Array.from({ length: N }, (_, i) => `ledger-${i}`);
    for (const id of ids) {
      await createCluster(sourceRds, { id: `cluster-${id}`, inScope: true, kmsKeyId: env.sources[0].shareKeyArn });
      await createClusterSnapshot(sourceRds, `cluster-${id}`, id);
    }
    return ids;
  },
  created: (id) =>
    eventOf(source, 'RDS DB Cluster Snapshot Event', 'aws.rds', { SourceIdentifier: id, EventID: 'RDS-EVENT-0075' }),
  finished: async (id) =>
    eventOf(source, 'RDS DB Cluster Snapshot Event', 'aws.rds', {
      SourceIdentifier: intermediateSnapshotId(id, 63),
      EventID: 'RDS-EVENT-0197',
    }),
};

/** A snapshot of a new volume in scope, encrypted under the default aws/ebs key. */
async function volumeSnapshot(): Promise<string> {
  const { VolumeId } = await sourceEc2.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: `${REGION}a`,
      Size: 8,
      Encrypted: true,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [IN_SCOPE_TAG] }],
    }),
  );
  const { SnapshotId } = await sourceEc2.ec2.send(new CreateSnapshotCommand({ VolumeId }));
  if (!SnapshotId) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

const ebs: KindFixture = {
  kind: 'ebs-snapshot',
  // Source 13 less the delete; vault 13 with the copy's lock (intake reads no volume).
  minSourceWithoutCleanup: 12,
  minVault: 13,
  async make() {
    const ids: string[] = [];
    for (let i = 0; i < N; i += 1) ids.push(await volumeSnapshot());
    return ids;
  },
  created: (id) => ebsEvent('createSnapshot', id),
  async finished(id) {
    const [copy] = (await ownSnapshots(sourceEc2)).filter((s) => tagRecord(s.Tags)['bunker:source-snapshot'] === id);
    return ebsEvent('copySnapshot', copy?.SnapshotId ?? '');
  },
};

const ami: KindFixture = {
  kind: 'ami',
  // Source 13 less the deregistration and the backing snapshot's delete; vault 17 with protection and lock.
  minSourceWithoutCleanup: 11,
  minVault: 17,
  async make() {
    const ids: string[] = [];
    for (let i = 0; i < N; i += 1) {
      const root = await volumeSnapshot();
      const { ImageId } = await sourceEc2.ec2.send(
        new RegisterImageCommand({
          Name: `orders-server-${i}`,
          RootDeviceName: '/dev/xvda',
          VirtualizationType: 'hvm',
          Architecture: 'x86_64',
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: root } }],
          TagSpecifications: [{ ResourceType: 'image', Tags: [IN_SCOPE_TAG] }],
        }),
      );
      if (!ImageId) throw new Error('RegisterImage returned no id');
      ids.push(ImageId);
    }
    return ids;
  },
  created: (id) => eventOf(source, 'EC2 AMI State Change', 'aws.ec2', { ImageId: id, State: 'available' }),
  async finished(id) {
    const copy = (await ownImages(sourceEc2)).find((i) => i.Name === `bunker-share-${id}`);
    return eventOf(source, 'EC2 AMI State Change', 'aws.ec2', { ImageId: copy?.ImageId ?? '', State: 'available' });
  },
};

const FIXTURES = [rds, aurora, ebs, ami];
/** Every message of a queue, as one SQS event, deleted from the queue (a consumed batch). */
async function drain(account: string, queueName: string, want: number): Promise<SQSEvent> {
  const sqs = aws.sqs(account);
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
  const records: SQSEvent['Records'] = [];
  for (let tries = 0; records.length < want && tries < 20; tries += 1) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    for (const m of Messages ?? []) {
      records.push({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        attributes: {} as SQSEvent['Records'][number]['attributes'],
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${REGION}:${account}:${queueName}`,
        awsRegion: REGION,
      });
    }
    if (Messages?.length) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }
  return { Records: records };
}

beforeAll(async () => {
  env = await localUp(config, endpoint);
  const shareKey = env.sources[0].shareKeyArn;
  const made = new Map<KindName, string[]>();
  for (const fixture of FIXTURES) made.set(fixture.kind, await fixture.make());
  const vaultContext = await localContext(endpoint, backup, REGION, vaultNames(config.name).intakeRole);
  const queue = intakeQueue(config, env, aws.sqs(backup));

  // The Lambdas' clients, built with the counter installed, as each function builds them at cold start.
  countCalls(counter);
  try {
    const agentContext = await localContext(endpoint, source, REGION, sourceNames(config.name, REGION).agentRole);
    const agent = createSourceAgentHandler(
      agentDeps(sourceSettings(config, source, REGION, shareKey), agentContext, silentLog),
    );
    const deps = vaultDeps(vaultSettings(config, env.backupKeyArn), vaultContext, silentLog);
    const intake = createIntakeHandler(deps);
    const completion = createCompletionHandler(deps);

    for (const fixture of FIXTURES) {
      const ids = made.get(fixture.kind) ?? [];
      const counts: Measured = { source: 0, vault: 0, perOperation: { source: {}, vault: {} } };
      measured.set(fixture.kind, counts);
      const phase = async (side: 'source' | 'vault', work: () => Promise<unknown>) => {
        counter.reset();
        await work();
        counts[side] += counter.total();
        for (const [key, n] of Object.entries(counter.toJSON())) {
          counts.perOperation[side][key] = (counts.perOperation[side][key] ?? 0) + n;
        }
      };

      // The artifact is ready, then the agent's intermediate copy of it is.
      await phase('source', async () => {
        for (const id of ids) await agent(fixture.created(id));
      });
      const finished: unknown[] = [];
      for (const id of ids) finished.push(await fixture.finished(id));
      await phase('source', async () => {
        for (const event of finished) await agent(event);
      });
      // Delivered as the event source mapping does: the consumed messages are deleted (by the test's client).
      await phase('vault', () => queue.deliver(intake, N));
      // Read outside the phases: the copies' ids, as the copy events would name them.
      const records = (await inventory(config, endpoint)).filter(
        (r) => r.kind === fixture.kind && r.status !== 'rejected',
      );
      const kind = KINDS[fixture.kind];
      await phase('vault', async () => {
        for (const record of records) {
          const copyEvent = kind.finishedCopyEvent(record.targetId ?? record.targetName ?? '', REGION, 'aws');
          await completion(eventOf(backup, copyEvent.detailType, copyEvent.source, copyEvent.detail));
        }
      });
      const receipts = await drain(source, sourceNames(config.name, REGION).receiptsQueue, N);
      // An empty batch would be taken for the hourly schedule and sweep: every receipt must be there.
      if (receipts.Records.length !== N) throw new Error(`${fixture.kind}: ${receipts.Records.length} receipt(s)`);
      await phase('source', () => agent(receipts));
    }
  } finally {
    countCalls(undefined);
  }
}, 300_000);

afterAll(() => {
  aws.destroy();
  ec2Accounts.destroy();
});

describe.each(FIXTURES)('AWS requests per $kind, counted on the Lambdas’ clients', (fixture) => {
  it(`makes at most ${RATIO} times the minimum on the source side`, () => {
    const counts = measured.get(fixture.kind);
    expect(counts?.perOperation.source).not.toEqual({});
    console.log(
      fixture.kind,
      JSON.stringify({
        perArtifact: { source: (counts?.source ?? 0) / N, vault: (counts?.vault ?? 0) / N },
        perOperation: counts?.perOperation,
      }),
    );
    expect((counts?.source ?? Infinity) / N).toBeLessThanOrEqual(RATIO * fixture.minSourceWithoutCleanup);
  });

  it(`makes at most ${RATIO} times the minimum on the vault side`, () => {
    const counts = measured.get(fixture.kind);
    expect(counts?.perOperation.vault).not.toEqual({});
    // In scope by the tag the agent carried onto each intermediate: intake never reads the resource's tags.
    expect(Object.keys(counts?.perOperation.vault ?? {})).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(RDS:DescribeDB(Instances|Clusters)|EC2:DescribeVolumes)$/)]),
    );
    expect((counts?.vault ?? Infinity) / N).toBeLessThanOrEqual(RATIO * fixture.minVault);
  });
});
