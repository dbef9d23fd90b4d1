/**
 * Every snapshot kind through the real path on the emulator: a vault with
 * RDS DB snapshots, Aurora cluster snapshots, EBS snapshots and AMIs
 * enabled, two registered source accounts, notifications published with SNS
 * on the intake topics (so SNS wraps them in its envelope), intake driven by
 * the real intake handler on the real intake queue, and the whole pipeline
 * by `localRun`. What the vault holds is read back directly with the backup
 * account's own SDK clients, never through Bunker's code.
 *
 * Per kind, on fresh accounts: the source agent re-keys an in-scope artifact
 * that is in a default-key or automated state and the vault pulls it under
 * the backup-data key; a duplicate announcement makes no second copy; and
 * intake rejects an unregistered sender, an artifact its source never
 * shared, and an artifact announced by a registered account that does not
 * own it. For AMIs also an image shared without its storage.
 *
 * Cross-account copies, and one account seeing what another shared with it,
 * exist only through Bunker's launcher (tools/moto/bunker_moto.py): the tests
 * that depend on it end in "(bunker moto launcher)".
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RegisterImageCommand,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRunSummary, localRun } from '../../cli/local/run';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { rejectionId } from '../../lambdas/core/names';
import type { VaultDeps } from '../../lambdas/core/pipeline/copy';
import { sourceProblem } from '../../lambdas/core/pipeline/intake';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import type { KindName, SourceView } from '../../lambdas/kinds/types';
import type { BunkerConfig } from '../../lib/config/schema';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createCluster,
  createClusterSnapshot,
  createDatabase,
  createSnapshot,
  IN_SCOPE_TAG,
  type IntakeQueue,
  intakeQueue,
  notificationV2,
  publish,
  REGION,
  realVaultDeps,
  shareClusterSnapshot,
  shareSnapshot as shareDbSnapshot,
  tagsOf,
} from './support/bunker';
import { type Ec2Account, shareImage, shareSnapshot as shareEbsSnapshot, tagRecord } from './support/ec2';

const endpoint = emulatorEndpoint();

/** SDK clients acting as one account each (real STS AssumeRole), one of each per account, destroyed together. */
class Clients {
  private readonly made = new Map<string, { destroy(): void }>();

  private client<T extends { destroy(): void }>(key: string, make: () => T): T {
    const found = this.made.get(key);
    if (found) return found as T;
    const client = make();
    this.made.set(key, client);
    return client;
  }

  rds = (account: string) => this.client(`rds:${account}`, () => new RDSClient(clientConfig(endpoint, account)));
  ec2 = (account: string) => this.client(`ec2:${account}`, () => new EC2Client(clientConfig(endpoint, account)));
  kms = (account: string) => this.client(`kms:${account}`, () => new KMSClient(clientConfig(endpoint, account)));
  sns = (account: string) => this.client(`sns:${account}`, () => new SNSClient(clientConfig(endpoint, account)));
  sqs = (account: string) => this.client(`sqs:${account}`, () => new SQSClient(clientConfig(endpoint, account)));

  /** The account as the EC2 fixtures of ./support/ec2 take it. */
  ec2Account = (account: string): Ec2Account => ({
    id: account,
    region: REGION,
    ec2: this.ec2(account),
    kms: this.kms(account),
  });

  destroy(): void {
    for (const client of this.made.values()) client.destroy();
    this.made.clear();
  }
}

const clients = new Clients();
afterAll(() => clients.destroy());

/** One artifact as its owner's own Describe reports it. */
interface Held {
  /** The service's id: the RDS identifier, the `snap-` or the `ami-` id. */
  readonly id: string;
  /** The owner the service reports: the account of an RDS ARN, EC2's OwnerId. */
  readonly owner: string;
  readonly tags: Readonly<Record<string, string>>;
  /** The encrypted data: the snapshot itself, or each backing snapshot of an image in mapping order. */
  readonly storage: readonly { readonly owner: string; readonly encrypted: boolean; readonly key?: string }[];
}

/** What a test needs to know of one kind, written against the service directly. */
interface KindFixture {
  readonly kind: KindName;
  /** The kind's label in intake's reasons (`Kind.label`), written out. */
  readonly label: string;
  /** The kind with its article, for test names. */
  readonly an: string;
  /** What {@link production} makes, for test names. */
  readonly productionIs: string;
  /**
   * An in-scope artifact in `account` that cannot be shared as it is (an
   * automated snapshot, or one under the default AWS-managed key): the
   * source agent has to re-key it. Returns its id.
   */
  production(account: string): Promise<string>;
  /** The key the production artifact is under, as the service reports it. */
  defaultKey(account: string): Promise<string>;
  /** An in-scope artifact under a new key of `account`'s own, shared with `sharedWith` (image storage too). */
  byHand(account: string, name: string, sharedWith: readonly string[]): Promise<string>;
  /** Every artifact of the kind that `account` owns, read with its own client. */
  own(account: string): Promise<Held[]>;
  /** The owner the service reports when `account` reads another account's `id` shared with it. */
  sharedOwner(account: string, id: string): Promise<string | undefined>;
}

const ownerOfArn = (arn: string | undefined) => arn?.split(':')[4] ?? '';

/** A new customer-managed key of `account`. */
async function newKey(account: string): Promise<string> {
  const { KeyMetadata } = await clients.kms(account).send(new CreateKeyCommand({ Description: 'a storage key' }));
  if (!KeyMetadata?.Arn) throw new Error('CreateKey returned no key ARN');
  return KeyMetadata.Arn;
}

/** The ARN of `account`'s AWS-managed default EBS key. */
async function defaultEbsKey(account: string): Promise<string> {
  const { KeyMetadata } = await clients.kms(account).send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' }));
  if (!KeyMetadata?.Arn) throw new Error('no alias/aws/ebs key');
  return KeyMetadata.Arn;
}

/** A snapshot of a new encrypted volume tagged in scope: under `key`, or the default aws/ebs key when none is given. */
async function volumeSnapshot(account: string, sizeGiB: number, key?: string): Promise<string> {
  const ec2 = clients.ec2(account);
  const { VolumeId } = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: `${REGION}a`,
      Size: sizeGiB,
      Encrypted: true,
      ...(key ? { KmsKeyId: key } : {}),
      TagSpecifications: [{ ResourceType: 'volume', Tags: [IN_SCOPE_TAG] }],
    }),
  );
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId }));
  if (!SnapshotId) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

/** An image tagged in scope, registered from an 8 GiB root and a 20 GiB data snapshot under `key` (default: aws/ebs). */
async function inScopeImage(account: string, key?: string): Promise<{ imageId: string; root: string; data: string }> {
  const root = await volumeSnapshot(account, 8, key);
  const data = await volumeSnapshot(account, 20, key);
  const { ImageId } = await clients.ec2(account).send(
    new RegisterImageCommand({
      Name: `orders-server-${root}`,
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      Architecture: 'x86_64',
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: root } },
        { DeviceName: '/dev/xvdb', Ebs: { SnapshotId: data, VolumeType: 'gp3' } },
      ],
      TagSpecifications: [{ ResourceType: 'image', Tags: [IN_SCOPE_TAG] }],
    }),
  );
  if (!ImageId) throw new Error('RegisterImage returned no id');
  return { imageId: ImageId, root, data };
}

const storageOf = (s: Snapshot) => ({ owner: s.OwnerId ?? '', encrypted: s.Encrypted === true, key: s.KmsKeyId });

const rdsSnapshots: KindFixture = {
  kind: 'rds-snapshot',
  label: 'RDS DB snapshot',
  an: 'an RDS DB snapshot',
  productionIs: 'an automated RDS DB snapshot under the default aws/rds key',
  async production(account) {
    // Automated snapshots of a database under the default aws/rds key.
    await createDatabase(clients.rds(account), { id: 'orders', inScope: true, automated: true });
    const automated = (await this.own(account)).filter((s) => s.id.startsWith('rds:orders-'));
    if (automated.length !== 1) throw new Error(`expected one automated snapshot of orders, found ${automated.length}`);
    return automated[0].id;
  },
  // What the emulator reports for the default aws/rds key (as in rds-pipeline.test.ts).
  defaultKey: async () => 'default_kms_key_id',
  async byHand(account, name, sharedWith) {
    const rds = clients.rds(account);
    await createDatabase(rds, { id: `${name}-db`, inScope: true, kmsKeyId: await newKey(account) });
    await createSnapshot(rds, `${name}-db`, name);
    for (const other of sharedWith) await shareDbSnapshot(rds, name, other);
    return name;
  },
  async sharedOwner(account, id) {
    const { DBSnapshots = [] } = await clients
      .rds(account)
      .send(new DescribeDBSnapshotsCommand({ IncludeShared: true, SnapshotType: 'shared' }));
    return ownerOfArn(DBSnapshots.find((s) => s.DBSnapshotIdentifier === id)?.DBSnapshotArn) || undefined;
  },
  async own(account) {
    const { DBSnapshots = [] } = await clients.rds(account).send(new DescribeDBSnapshotsCommand({}));
    return DBSnapshots.map((s) => ({
      id: s.DBSnapshotIdentifier ?? '',
      owner: ownerOfArn(s.DBSnapshotArn),
      tags: tagsOf(s),
      storage: [{ owner: ownerOfArn(s.DBSnapshotArn), encrypted: s.Encrypted === true, key: s.KmsKeyId }],
    }));
  },
};

const auroraSnapshots: KindFixture = {
  kind: 'aurora-cluster-snapshot',
  label: 'Aurora DB cluster snapshot',
  an: 'an Aurora DB cluster snapshot',
  productionIs: 'a manual Aurora DB cluster snapshot under the default aws/rds key',
  async production(account) {
    // A manual snapshot of a cluster under the default aws/rds key.
    await createCluster(clients.rds(account), { id: 'ledger', inScope: true });
    await createClusterSnapshot(clients.rds(account), 'ledger', 'ledger-nightly');
    return 'ledger-nightly';
  },
  // What the emulator reports for the default aws/rds key (as in rds-pipeline.test.ts).
  defaultKey: async () => 'default_kms_key_id',
  async byHand(account, name, sharedWith) {
    const rds = clients.rds(account);
    await createCluster(rds, { id: `${name}-cluster`, inScope: true, kmsKeyId: await newKey(account) });
    await createClusterSnapshot(rds, `${name}-cluster`, name);
    for (const other of sharedWith) await shareClusterSnapshot(rds, name, other);
    return name;
  },
  async sharedOwner(account, id) {
    const { DBClusterSnapshots = [] } = await clients
      .rds(account)
      .send(new DescribeDBClusterSnapshotsCommand({ IncludeShared: true, SnapshotType: 'shared' }));
    return (
      ownerOfArn(DBClusterSnapshots.find((s) => s.DBClusterSnapshotIdentifier === id)?.DBClusterSnapshotArn) ||
      undefined
    );
  },
  async own(account) {
    const { DBClusterSnapshots = [] } = await clients.rds(account).send(new DescribeDBClusterSnapshotsCommand({}));
    return DBClusterSnapshots.map((s) => ({
      id: s.DBClusterSnapshotIdentifier ?? '',
      owner: ownerOfArn(s.DBClusterSnapshotArn),
      tags: tagsOf(s),
      storage: [{ owner: ownerOfArn(s.DBClusterSnapshotArn), encrypted: s.StorageEncrypted === true, key: s.KmsKeyId }],
    }));
  },
};

const ebsSnapshots: KindFixture = {
  kind: 'ebs-snapshot',
  label: 'EBS snapshot',
  an: 'an EBS snapshot',
  productionIs: 'an EBS snapshot under the default aws/ebs key',
  // A snapshot of a volume encrypted by default, under aws/ebs, which no other account can use.
  production: (account) => volumeSnapshot(account, 8),
  defaultKey: defaultEbsKey,
  async byHand(account, _name, sharedWith) {
    const snapshotId = await volumeSnapshot(account, 8, await newKey(account));
    for (const other of sharedWith) await shareEbsSnapshot(clients.ec2Account(account), snapshotId, other);
    return snapshotId;
  },
  async sharedOwner(account, id) {
    const { Snapshots = [] } = await clients.ec2(account).send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }));
    return Snapshots.find((s) => s.SnapshotId === id)?.OwnerId;
  },
  async own(account) {
    const { Snapshots = [] } = await clients.ec2(account).send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    return Snapshots.map((s) => ({
      id: s.SnapshotId ?? '',
      owner: s.OwnerId ?? '',
      tags: tagRecord(s.Tags),
      storage: [storageOf(s)],
    }));
  },
};

const amis: KindFixture = {
  kind: 'ami',
  label: 'AMI',
  an: 'an AMI',
  productionIs: 'an AMI whose storage is under the default aws/ebs key',
  // Backed by snapshots under aws/ebs.
  production: async (account) => (await inScopeImage(account)).imageId,
  defaultKey: defaultEbsKey,
  async byHand(account, _name, sharedWith) {
    const image = await inScopeImage(account, await newKey(account));
    const owner = clients.ec2Account(account);
    for (const other of sharedWith) {
      await shareEbsSnapshot(owner, image.root, other);
      await shareEbsSnapshot(owner, image.data, other);
      await shareImage(owner, image.imageId, other);
    }
    return image.imageId;
  },
  async sharedOwner(account, id) {
    const { Images = [] } = await clients.ec2(account).send(new DescribeImagesCommand({ ImageIds: [id] }));
    return Images.find((i) => i.ImageId === id)?.OwnerId;
  },
  async own(account) {
    const ec2 = clients.ec2(account);
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    const held: Held[] = [];
    for (const image of Images) {
      const ids = (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId ?? '');
      const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ids }));
      const byId = new Map(Snapshots.map((s) => [s.SnapshotId, s]));
      held.push({
        id: image.ImageId ?? '',
        owner: image.OwnerId ?? '',
        tags: tagRecord(image.Tags),
        storage: ids.map((id) => {
          const snapshot = byId.get(id);
          if (!snapshot) throw new Error(`backing snapshot ${id} of ${image.ImageId} not found`);
          return storageOf(snapshot);
        }),
      });
    }
    return held;
  },
};

const ALL_KINDS = { enabled: true } as const;

/** A vault of all four kinds for `backup`, with `source` and `other` registered. */
const configOf = (backup: string, source: string, other: string): BunkerConfig =>
  bunkerConfig(backup, [source, other], {
    artifacts: { rds: ALL_KINDS, aurora: ALL_KINDS, ebs: ALL_KINDS, ami: ALL_KINDS },
  });

/** One vault on fresh accounts, its intake queue and the intake Lambda's real dependencies. */
interface Vault {
  readonly backup: string;
  readonly source: string;
  readonly other: string;
  readonly config: BunkerConfig;
  readonly env: LocalEnvironment;
  readonly deps: VaultDeps;
  readonly queue: IntakeQueue;
}

async function freshVault(): Promise<Vault> {
  const [backup, source, other] = [freshAccountId(), freshAccountId(), freshAccountId()];
  const config = configOf(backup, source, other);
  const env = await localUp(config, endpoint);
  const deps = await realVaultDeps(config, env, endpoint);
  return { backup, source, other, config, env, deps, queue: intakeQueue(config, env, clients.sqs(backup)) };
}

/** Hands the next message on the intake queue to the real intake handler; returns the body it consumed. */
async function deliverOne(vault: Vault): Promise<string> {
  const { event, response } = await vault.queue.deliver(createIntakeHandler(vault.deps), 1);
  expect(response.batchItemFailures).toEqual([]);
  expect(event.Records).toHaveLength(1);
  return event.Records[0].body;
}

/** The rejection intake recorded for the delivered `body`, as the inventory holds it. */
async function rejectionOf(vault: Vault, body: string): Promise<Partial<InventoryRecord> | undefined> {
  const record = await vault.deps.inventory.get(rejectionId(body));
  return (
    record && { status: record.status, kind: record.kind, reason: record.reason, sourceAccount: record.sourceAccount }
  );
}

describe.each([rdsSnapshots, auroraSnapshots, ebsSnapshots, amis])('$kind through intake', (fixture) => {
  const { kind, label, an } = fixture;
  let vault: Vault;
  let run: LocalRunSummary;
  let productionId: string;

  const artifactIdOf = (account: string, id: string) => `${kind}:${account}:${REGION}:${id}`;
  /** The artifacts the backup account owns, read with its own client. */
  const backupHolds = () => fixture.own(vault.backup);
  const copiesOf = async (sourceId: string) =>
    (await backupHolds()).filter((held) => held.tags['bunker:source-id'] === sourceId);

  /** The agent's intermediate of the production artifact, in the source account. */
  async function intermediate(): Promise<Held> {
    const found = (await fixture.own(vault.source)).filter(
      (held) => held.tags['bunker:intermediate'] === 'true' && held.tags['bunker:source-snapshot'] === productionId,
    );
    expect(found).toHaveLength(1);
    return found[0];
  }

  /** Nothing of `id` in the backup account: the same artifacts as `before`, none of them a copy of `id`, no record. */
  async function expectNothingCopied(id: string, before: readonly Held[], accounts: readonly string[]) {
    const after = await backupHolds();
    expect(after.map((held) => held.id).sort()).toEqual(before.map((held) => held.id).sort());
    expect(after.map((held) => held.tags['bunker:source-id'])).not.toContain(id);
    for (const account of accounts) expect(await vault.deps.inventory.get(artifactIdOf(account, id))).toBeUndefined();
  }

  beforeAll(async () => {
    vault = await freshVault();
    productionId = await fixture.production(vault.source);
    run = await localRun(vault.config, endpoint);
  });

  it(`re-keys ${fixture.productionIs} through an intermediate under the share key, and the vault pulls one copy, owned by the backup account and encrypted under the backup-data key (bunker moto launcher)`, async () => {
    const { source, backup, env } = vault;
    const shareKey = env.sources.find((s) => s.account === source)?.shareKeyArn;
    expect(shareKey).toMatch(new RegExp(`^arn:aws:kms:${REGION}:${source}:key/`));
    expect(run.settled).toBe(true);
    expect(run.deadLetters).toBe(0);

    const production = (await fixture.own(source)).find((held) => held.id === productionId);
    const defaultKey = await fixture.defaultKey(source);
    expect(production?.storage.map((s) => s.key)).toEqual(production?.storage.map(() => defaultKey));
    const rekeyed = await intermediate();
    expect(rekeyed.id).not.toBe(productionId);
    expect(rekeyed.storage.length).toBeGreaterThan(0);
    expect(rekeyed.storage).toEqual(rekeyed.storage.map(() => ({ owner: source, encrypted: true, key: shareKey })));

    const copies = await copiesOf(rekeyed.id);
    expect(copies).toHaveLength(1);
    const [copy] = copies;
    expect(copy.owner).toBe(backup);
    expect(copy.storage).toEqual(
      rekeyed.storage.map(() => ({ owner: backup, encrypted: true, key: env.backupKeyArn })),
    );
    expect(copy.tags).toMatchObject({
      'bunker:managed-by': 'bunker',
      'bunker:kind': kind,
      'bunker:source-account': source,
      'bunker:source-region': REGION,
      'bunker:source-id': rekeyed.id,
    });
    expect(await vault.deps.inventory.get(artifactIdOf(source, rekeyed.id))).toMatchObject({
      status: 'available',
      kind,
      sourceSnapshotId: productionId,
      targetId: copy.id,
      kmsKeyArn: env.backupKeyArn,
    });
  });

  it(`makes no second copy when the intermediate's notification is delivered again (bunker moto launcher)`, async () => {
    const { source, env } = vault;
    const rekeyed = await intermediate();
    const before = await backupHolds();
    const recordBefore = await vault.deps.inventory.get(artifactIdOf(source, rekeyed.id));
    expect(before.filter((held) => held.tags['bunker:source-id'] === rekeyed.id)).toHaveLength(1);
    const duplicate = notificationV2(source, rekeyed.id, { kind });
    await publish(clients.sns(source), env.topicArns[source], duplicate);

    const body = await deliverOne(vault);

    // Accepted as a duplicate: no rejection, the record as it was, the backup account's artifacts as they were.
    expect(await rejectionOf(vault, body)).toBeUndefined();
    expect(await vault.deps.inventory.get(artifactIdOf(source, rekeyed.id))).toEqual(recordBefore);
    expect(recordBefore).toMatchObject({ status: 'available', copyAttempts: 1 });
    const after = await backupHolds();
    expect(after.map((held) => held.id).sort()).toEqual(before.map((held) => held.id).sort());
    expect(await copiesOf(rekeyed.id)).toHaveLength(1);
  });

  it(`rejects a notification naming an unregistered account that really shared ${an}, published on a registered account's topic, and copies nothing`, async () => {
    const { source, backup, env } = vault;
    const intruder = freshAccountId();
    const planted = await fixture.byHand(intruder, 'planted', [backup]);
    const before = await backupHolds();
    await publish(clients.sns(intruder), env.topicArns[source], notificationV2(intruder, planted, { kind }));

    const body = await deliverOne(vault);

    expect(await rejectionOf(vault, body)).toEqual({
      status: 'rejected',
      kind: 'unknown',
      reason: `names account ${intruder} but was published on the intake topic of account ${source}`,
      sourceAccount: source,
    });
    await expectNothingCopied(planted, before, [intruder, source]);
  });

  it(`rejects ${an} in scope under its registered source's own key, announced by hand but never shared, saying it is not shared, and copies nothing`, async () => {
    const { source, backup, env } = vault;
    const unshared = await fixture.byHand(source, 'never-shared', []);
    const before = await backupHolds();
    await publish(clients.sns(source), env.topicArns[source], notificationV2(source, unshared, { kind }));

    const body = await deliverOne(vault);

    expect(await rejectionOf(vault, body)).toEqual({
      status: 'rejected',
      kind: 'unknown',
      reason: `${label} ${unshared} is not shared with the backup account ${backup}`,
      sourceAccount: source,
    });
    await expectNothingCopied(unshared, before, [source]);
  });

  it(`rejects ${an} that a registered account announces as its own on its own topic while the other registered account owns it and shared it with the backup account and the announcer, and copies nothing (bunker moto launcher)`, async () => {
    const { source, other, backup, env, deps } = vault;
    const borrowed = await fixture.byHand(source, 'borrowed', [backup, other]);
    // The artifact itself would pass intake's checks when its owner announced it.
    const asOwned = await deps.copiers[kind].describeSource({
      kind,
      partition: 'aws',
      account: source,
      region: REGION,
      id: borrowed,
    });
    expect(asOwned?.ownerAccount).toBe(source);
    expect(await sourceProblem(deps, asOwned as SourceView)).toBeUndefined();
    // The announcer sees it, shared with it, as the other account's.
    expect(await fixture.sharedOwner(other, borrowed)).toBe(source);
    const before = await backupHolds();
    await publish(clients.sns(other), env.topicArns[other], notificationV2(other, borrowed, { kind }));

    const body = await deliverOne(vault);

    expect(await rejectionOf(vault, body)).toEqual({
      status: 'rejected',
      kind: 'unknown',
      reason: `${label} ${borrowed} does not exist in account ${other}`,
      sourceAccount: other,
    });
    await expectNothingCopied(borrowed, before, [other, source]);
  });
});

describe('an AMI shared with launchPermission without its storage', () => {
  let vault: Vault;

  beforeAll(async () => {
    vault = await freshVault();
  });

  it('rejects an in-scope image whose data snapshot is not shared, naming that snapshot, and copies nothing (bunker moto launcher)', async () => {
    const { source, backup, env, deps } = vault;
    const image = await inScopeImage(source, await newKey(source));
    const owner = clients.ec2Account(source);
    await shareImage(owner, image.imageId, backup);
    await shareEbsSnapshot(owner, image.root, backup);
    const before = await amis.own(backup);
    await publish(clients.sns(source), env.topicArns[source], notificationV2(source, image.imageId, { kind: 'ami' }));

    const body = await deliverOne(vault);

    expect(await rejectionOf(vault, body)).toEqual({
      status: 'rejected',
      kind: 'unknown',
      reason: `AMI ${image.imageId} has backing snapshots not shared with the backup account: ${image.data}`,
      sourceAccount: source,
    });
    expect(await amis.own(backup)).toEqual(before);
    expect(await deps.inventory.get(`ami:${source}:${REGION}:${image.imageId}`)).toBeUndefined();
    // Read independently as the backup account: neither the image nor any snapshot was copied.
    const { Snapshots = [] } = await clients.ec2(backup).send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    expect(Snapshots).toEqual([]);
  });
});
