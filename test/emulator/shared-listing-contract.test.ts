/**
 * The contract of `ArtifactCopier.listShared`, the sweep's listing of what
 * the source accounts of a Region share with the backup account: one call
 * for several accounts, each ref under its owner, nothing of an account not
 * asked for. The same cases for every kind against the in-memory double
 * (sim/memory-copier.ts), which the core's tests use, and against the SDK
 * copiers on the emulator, acting as the backup account (never through a
 * reader role). A case that passes on one and fails on the other is drift:
 * fix the double (or the copier), never the case.
 *
 * Out of the contract: which shared artifacts are the source agent's
 * intermediates. The copiers keep to what the backup account can see of
 * them (RDS and AMI names `bunker-share-…`, the EBS description the agent
 * writes); the double holds only intermediates. The next block checks the
 * copiers' filters, and how many requests a listing of 201 accounts makes,
 * on the emulator alone.
 *
 * Listing another account's shared snapshots and images relies on Bunker's
 * launcher extension (tools/moto/bunker_moto.py): moto looks only in the
 * caller's own account.
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { CallCounter, countCalls } from '../../lambdas/adapters/aws-context';
import { CopyRefusedError } from '../../lambdas/core/errors';
import { auroraClusterSnapshotCopier } from '../../lambdas/kinds/aurora-cluster-snapshot/copier';
import { INTERMEDIATE_DESCRIPTION } from '../../lambdas/kinds/shared';
import { rdsSnapshotCopier } from '../../lambdas/kinds/rds-snapshot/copier';
import { KINDS } from '../../lambdas/kinds/registry';
import {
  type ArtifactCopier,
  type ArtifactRef,
  KIND_NAMES,
  type KindName,
  type SourceView,
} from '../../lambdas/kinds/types';
import { EventLoop } from '../../sim/clock';
import { CopyWorld, simSourceView } from '../../sim/copy-world';
import { ManualClock, Prng } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  createCluster,
  createClusterSnapshot,
  createDatabase,
  createSnapshot,
  shareClusterSnapshot,
  shareSnapshot as shareDbSnapshot,
  TestClients,
} from './support/bunker';
import {
  backingSnapshotIds,
  copyTagsOf,
  createKey,
  Ec2Accounts,
  firstCopyRequest,
  OTHER_REGION,
  REGION,
  shareImage,
  shareSnapshot,
  VAULT_ROLE,
  vaultCopiers,
} from './support/ec2';

const endpoint = emulatorEndpoint();

/** What a listing case needs: the backup account's copiers, and the source's artifacts made on either side. */
interface World {
  readonly backup: string;
  copier(kind: KindName): ArtifactCopier;
  /** A new intermediate of `kind` made by the agent of `account` in {@link REGION}; shared with the backup account or not. */
  intermediate(kind: KindName, account: string, shared: boolean): Promise<string>;
}

interface Implementation {
  readonly name: string;
  world(backup: string): Promise<World>;
  /** Emulator clients to close. */
  close(): void;
}

const memory: Implementation = {
  name: 'the in-memory double (sim/memory-copier.ts)',
  async world(backup) {
    const clock = new ManualClock(Date.parse('2026-03-01T04:00:00.000Z'));
    const prng = new Prng(7);
    const copiers = new Map(
      KIND_NAMES.map((kind) => [kind, new MemoryCopier(kind, clock, prng, { backupAccount: backup })]),
    );
    let made = 0;
    const ids: Record<KindName, () => string> = {
      'rds-snapshot': () => `bunker-share-orders-${made}`,
      'aurora-cluster-snapshot': () => `bunker-share-shop-${made}`,
      'ebs-snapshot': () => `snap-0a0000000000000${made.toString(16).padStart(2, '0')}`,
      ami: () => `ami-0a0000000000000${made.toString(16).padStart(2, '0')}`,
    };
    return {
      backup,
      copier: (kind) => copiers.get(kind) as MemoryCopier,
      async intermediate(kind, account, shared) {
        made += 1;
        const ref: ArtifactRef = { kind, partition: 'aws', account, region: REGION, id: ids[kind]() };
        (copiers.get(kind) as MemoryCopier).addSource(ref, shared ? {} : { sharedWith: [] });
        return ref.id;
      },
    };
  },
  close() {},
};

const rdsClients = new TestClients(endpoint);
const ec2Accounts = new Ec2Accounts(endpoint);

/** The source-side resources each emulator account makes its intermediates of, made once. */
const ready = new Map<string, Promise<string>>();
function once(key: string, make: () => Promise<string>): Promise<string> {
  let found = ready.get(key);
  if (!found) {
    found = make();
    ready.set(key, found);
  }
  return found;
}

async function volumeOf(account: string): Promise<string> {
  return once(`volume/${account}`, async () => {
    const { VolumeId } = await ec2Accounts
      .account(account)
      .ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 8, Encrypted: true }));
    if (!VolumeId) throw new Error('CreateVolume returned no id');
    return VolumeId;
  });
}

/** A snapshot of the account's volume with `description`. */
async function ebsSnapshot(account: string, description: string): Promise<string> {
  const VolumeId = await volumeOf(account);
  const { SnapshotId } = await ec2Accounts
    .account(account)
    .ec2.send(new CreateSnapshotCommand({ VolumeId, Description: description }));
  if (!SnapshotId) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

/** An image named `name`, backed by one snapshot of the account. */
async function image(account: string, name: string): Promise<string> {
  const storage = await ebsSnapshot(account, `storage of ${name}`);
  const { ImageId } = await ec2Accounts.account(account).ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      Architecture: 'x86_64',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: storage } }],
    }),
  );
  if (!ImageId) throw new Error('RegisterImage returned no id');
  return ImageId;
}

/** Makes (and shares, when asked) one artifact of `kind` named `name` as `account`; answers its id. */
async function emulatorArtifact(
  kind: KindName,
  account: string,
  backup: string,
  name: string,
  shared: boolean,
): Promise<string> {
  const rds = rdsClients.rds(account);
  const ec2 = ec2Accounts.account(account);
  switch (kind) {
    case 'rds-snapshot':
      await once(`db/${account}`, async () => {
        await createDatabase(rds, { id: 'orders', inScope: true });
        return 'orders';
      });
      await createSnapshot(rds, 'orders', name);
      if (shared) await shareDbSnapshot(rds, name, backup);
      return name;
    case 'aurora-cluster-snapshot':
      await once(`cluster/${account}`, async () => {
        await createCluster(rds, { id: 'shop', inScope: true });
        return 'shop';
      });
      await createClusterSnapshot(rds, 'shop', name);
      if (shared) await shareClusterSnapshot(rds, name, backup);
      return name;
    case 'ebs-snapshot': {
      const id = await ebsSnapshot(account, name);
      if (shared) await shareSnapshot(ec2, id, backup);
      return id;
    }
    case 'ami': {
      const id = await image(account, name);
      if (shared) await shareImage(ec2, id, backup);
      return id;
    }
  }
}

/** The name (or, for EBS, the description) the source agent gives its n-th intermediate of a kind. */
function intermediateName(kind: KindName, n: number, backup: string): string {
  if (kind === 'ebs-snapshot') return `${INTERMEDIATE_DESCRIPTION}snap-0b00000000000000${n}, shareable with ${backup}`;
  return `bunker-share-${kind === 'aurora-cluster-snapshot' ? 'shop' : 'orders'}-${n}`;
}

const emulator: Implementation = {
  name: 'the SDK copiers on the emulator (bunker moto launcher)',
  async world(backup) {
    const context = await localContext(endpoint, backup, REGION, VAULT_ROLE);
    const copiers: Record<KindName, ArtifactCopier> = {
      'rds-snapshot': rdsSnapshotCopier(context, 'bunker', 'aws'),
      'aurora-cluster-snapshot': auroraClusterSnapshotCopier(context, 'bunker', 'aws'),
      ...(await vaultCopiers(endpoint, backup).then(({ ebs, ami }) => ({ 'ebs-snapshot': ebs, ami }))),
    };
    let made = 0;
    return {
      backup,
      copier: (kind) => copiers[kind],
      async intermediate(kind, account, shared) {
        made += 1;
        return emulatorArtifact(kind, account, backup, intermediateName(kind, made, backup), shared);
      },
    };
  },
  close() {
    rdsClients.destroy();
    ec2Accounts.destroy();
  },
};

afterAll(() => emulator.close());

describe.each([memory, emulator])('listShared: $name', (implementation) => {
  const backup = freshAccountId();
  const source = freshAccountId();
  const other = freshAccountId();
  const unasked = freshAccountId();
  let world: World;
  /** Per kind: the source's shared and unshared intermediates, the other's shared one, and one of an account not asked for. */
  const made = new Map<KindName, { shared: string; unshared: string; others: string; unasked: string }>();

  beforeAll(async () => {
    world = await implementation.world(backup);
    for (const kind of KIND_NAMES) {
      made.set(kind, {
        shared: await world.intermediate(kind, source, true),
        unshared: await world.intermediate(kind, source, false),
        others: await world.intermediate(kind, other, true),
        unasked: await world.intermediate(kind, unasked, true),
      });
    }
  }, 120_000);

  const idsOf = (refs: ArtifactRef[]) => refs.map((ref) => ref.id);
  const madeOf = (kind: KindName) => made.get(kind) ?? { shared: '', unshared: '', others: '', unasked: '' };

  it.each(KIND_NAMES)(
    '%s: one call lists what each account asked for shares with the backup account, under its owner',
    async (kind) => {
      const { shared, others } = madeOf(kind);

      const listed = await world.copier(kind).listShared(REGION, [source, other]);

      expect(listed).toHaveLength(2);
      expect(listed).toEqual(
        expect.arrayContaining([
          { kind, partition: 'aws', account: source, region: REGION, id: shared },
          { kind, partition: 'aws', account: other, region: REGION, id: others },
        ]),
      );
    },
  );

  it.each(KIND_NAMES)('%s: does not list what an account did not share', async (kind) => {
    const { unshared } = madeOf(kind);

    expect(idsOf(await world.copier(kind).listShared(REGION, [source, other]))).not.toContain(unshared);
  });

  it.each(KIND_NAMES)('%s: lists nothing of an account not asked for', async (kind) => {
    const { shared, unasked } = madeOf(kind);

    expect(idsOf(await world.copier(kind).listShared(REGION, [source]))).toEqual([shared]);
    expect(idsOf(await world.copier(kind).listShared(REGION, [source, other]))).not.toContain(unasked);
  });

  it.each(KIND_NAMES)(
    '%s: lists nothing in a Region where the accounts shared nothing, or for no account',
    async (kind) => {
      expect(await world.copier(kind).listShared(OTHER_REGION, [source, other])).toEqual([]);
      expect(await world.copier(kind).listShared(REGION, [])).toEqual([]);
    },
  );
});

describe('listShared keeps to the source agent’s intermediates (emulator: what the backup account sees of them)', () => {
  const backup = freshAccountId();
  const source = freshAccountId();
  let world: World;

  beforeAll(async () => {
    world = await emulator.world(backup);
  }, 60_000);

  it.each([
    ['rds-snapshot', 'orders-manual'],
    ['aurora-cluster-snapshot', 'shop-manual'],
    ['ebs-snapshot', 'orders data'],
    ['ami', 'orders-server'],
  ] as const)('%s: a shared %j that is not a bunker-share- intermediate is not listed', async (kind, name) => {
    const intermediate = await world.intermediate(kind, source, true);
    await emulatorArtifact(kind, source, backup, name, true);

    expect(idsOf(await world.copier(kind).listShared(REGION, [source]))).toEqual([intermediate]);
  });

  it('lists 201 accounts with one RDS request and two EC2 requests a kind: 200 owners a request (emulator: counted)', async () => {
    // The emulator takes any number of filter values; AWS refuses more than 200 a request (FilterLimitExceeded).
    const first = freshAccountId();
    const last = freshAccountId();
    const accounts = [first, ...Array.from({ length: 199 }, () => freshAccountId()), last];
    const shares = new Map<KindName, string[]>();
    for (const kind of KIND_NAMES) {
      shares.set(kind, [await world.intermediate(kind, first, true), await world.intermediate(kind, last, true)]);
    }
    const counter = new CallCounter();
    const listed = new Map<KindName, string[]>();
    // The clients of a world made now count their requests (each client is made at its first request).
    countCalls(counter);
    try {
      const fresh = await emulator.world(backup);
      for (const kind of KIND_NAMES) {
        listed.set(kind, idsOf(await fresh.copier(kind).listShared(REGION, accounts)).sort());
      }
    } finally {
      countCalls(undefined);
    }

    expect(Object.fromEntries(listed)).toEqual(
      Object.fromEntries(KIND_NAMES.map((kind) => [kind, [...(shares.get(kind) ?? [])].sort()])),
    );
    expect(counter.toJSON()).toMatchObject({
      'EC2:DescribeImages': 2,
      'EC2:DescribeSnapshots': 2,
      'RDS:DescribeDBClusterSnapshots': 1,
      'RDS:DescribeDBSnapshots': 1,
    });
  }, 60_000);

  const idsOf = (refs: ArtifactRef[]) => refs.map((ref) => ref.id);
});

/**
 * The contract of a copy: `copy` of a shared source, `describeCopy` of it by
 * id and by name once it is done, the same copy asked for again, and a
 * source that is not shared. Run against the simulation's copier double
 * (sim/copy-world.ts, `CopyWorld.copier`) and the SDK copiers on the
 * emulator. The double's copies take time on its virtual clock; the
 * emulator's are done at once, so each case lets the copies finish first.
 *
 * The double's `listShared` and `describeSource` are not in these cases:
 * they answer what the simulation's `SourceReader` says (sim/simulation.ts,
 * sim/agents.ts), and do nothing of their own to hold to a contract.
 */
interface CopyContractWorld {
  copier(kind: KindName): ArtifactCopier;
  /** The backup account's key the copies are made under. */
  readonly key: string;
  /** A new source of `kind` of the source account in {@link REGION}, shared with the backup account or not. */
  source(kind: KindName, shared: boolean): Promise<ArtifactRef>;
  /** Lets every copy started so far finish. */
  finish(): Promise<void>;
}

interface CopyImplementation {
  readonly name: string;
  world(backup: string, source: string): Promise<CopyContractWorld>;
}

/** What the emulator reports of the sources made here: DB instance 20 GiB, Aurora 1 GiB, volumes 8 GiB. */
const SIZE_GIB: Record<KindName, number> = {
  'rds-snapshot': 20,
  'aurora-cluster-snapshot': 1,
  'ebs-snapshot': 8,
  ami: 8,
};

const simulationDouble: CopyImplementation = {
  name: 'the simulation double (sim/copy-world.ts)',
  async world(backup, source) {
    const loop = new EventLoop('2026-03-01T04:00:00.000Z');
    const views = new Map<string, SourceView>();
    const keyOf = (ref: ArtifactRef) => `${ref.kind}/${ref.account}/${ref.region}/${ref.id}`;
    const world = new CopyWorld({
      loop,
      backupAccount: backup,
      partition: 'aws',
      quotas: { 'rds-snapshot': 20, 'aurora-cluster-snapshot': 20, 'ebs-snapshot': 20, ami: 20 },
      sources: {
        describe: async (ref) => views.get(keyOf(ref)),
        listShared: async () => [],
        factsOf: (ref) => ({ key: keyOf(ref), resourceKey: `${ref.account}/orders`, durationMs: 40 * 60_000 }),
      },
      onFinished: () => {},
    });
    let made = 0;
    const ids: Record<KindName, () => string> = {
      'rds-snapshot': () => `bunker-share-orders-${made}`,
      'aurora-cluster-snapshot': () => `bunker-share-shop-${made}`,
      'ebs-snapshot': () => `snap-0c0000000000000${made.toString(16).padStart(2, '0')}`,
      ami: () => `ami-0c0000000000000${made.toString(16).padStart(2, '0')}`,
    };
    return {
      copier: (kind) => world.copier(kind),
      key: `arn:aws:kms:${REGION}:${backup}:key/backup-data`,
      async source(kind, shared) {
        made += 1;
        const ref: ArtifactRef = { kind, partition: 'aws', account: source, region: REGION, id: ids[kind]() };
        const view = simSourceView(
          { ref, resourceId: 'orders', sizeGiB: SIZE_GIB[kind], producedAtMs: loop.epochMs, tags: {} },
          backup,
        );
        views.set(keyOf(ref), shared ? view : { ...view, sharedWith: [] });
        return ref;
      },
      finish: () => loop.run(),
    };
  },
};

const emulatorCopiers: CopyImplementation = {
  name: 'the SDK copiers on the emulator (bunker moto launcher)',
  async world(backup, source) {
    const { copier } = await emulator.world(backup);
    const key = await createKey(ec2Accounts.account(backup));
    let made = 0;
    return {
      copier,
      key,
      async source(kind, shared) {
        made += 1;
        const name = intermediateName(kind, made, backup);
        const id = await emulatorArtifact(kind, source, backup, name, shared);
        if (kind === 'ami' && shared) {
          // A copy of an image needs its storage shared too.
          const account = ec2Accounts.account(source);
          const { Images } = await account.ec2.send(new DescribeImagesCommand({ ImageIds: [id] }));
          for (const snapshot of backingSnapshotIds(Images?.[0])) await shareSnapshot(account, snapshot, backup);
        }
        return { kind, partition: 'aws', account: source, region: REGION, id };
      },
      finish: async () => {},
    };
  },
};

describe.each([simulationDouble, emulatorCopiers])('copy and describeCopy: $name', (implementation) => {
  const backup = freshAccountId();
  const source = freshAccountId();
  let world: CopyContractWorld;

  beforeAll(async () => {
    world = await implementation.world(backup, source);
  }, 60_000);

  const TARGET_ID: Record<KindName, (targetName: string) => RegExp | string> = {
    'rds-snapshot': (name) => name,
    'aurora-cluster-snapshot': (name) => name,
    'ebs-snapshot': () => /^snap-[0-9a-f]+$/,
    ami: () => /^ami-[0-9a-f]+$/,
  };
  const matching = (expected: RegExp | string) =>
    typeof expected === 'string' ? expected : (expect.stringMatching(expected) as unknown as string);

  it.each(KIND_NAMES)(
    '%s: starts the copy of a shared source, then describes it alike by id and by name: done, under the backup key, with the request tags',
    async (kind) => {
      const ref = await world.source(kind, true);
      const targetName = `bunker-contract-${kind}-1`;
      const tags = copyTagsOf(ref, targetName, 'orders');

      const started = await world.copier(kind).copy(firstCopyRequest(KINDS[kind], ref, targetName, world.key, tags));
      await world.finish();

      expect(started).toEqual({ outcome: 'started', targetId: matching(TARGET_ID[kind](targetName)) });
      const targetId = started.targetId ?? '';
      const byId = await world.copier(kind).describeCopy({ targetName, targetId, region: REGION });
      const byName = await world.copier(kind).describeCopy({ targetName, region: REGION });
      const arn = {
        'rds-snapshot': `arn:aws:rds:${REGION}:${backup}:snapshot:${targetId}`,
        'aurora-cluster-snapshot': `arn:aws:rds:${REGION}:${backup}:cluster-snapshot:${targetId}`,
        'ebs-snapshot': `arn:aws:ec2:${REGION}::snapshot/${targetId}`,
        ami: `arn:aws:ec2:${REGION}::image/${targetId}`,
      }[kind];
      expect(byId).toEqual({
        targetId,
        arn,
        region: REGION,
        state: 'available',
        detail: kind === 'ebs-snapshot' ? 'completed' : 'available',
        encrypted: true,
        ...(kind === 'ami'
          ? { children: [{ id: expect.stringMatching(/^snap-[0-9a-f]+$/), encrypted: true, keyArn: world.key }] }
          : { keyArn: world.key, sizeGiB: SIZE_GIB[kind] }),
        tags,
      });
      expect(byName).toEqual(byId);
    },
    60_000,
  );

  it.each(KIND_NAMES)(
    '%s: answers exists with the first copy when the same target name is copied again',
    async (kind) => {
      const ref = await world.source(kind, true);
      const targetName = `bunker-contract-${kind}-2`;
      const request = firstCopyRequest(KINDS[kind], ref, targetName, world.key, copyTagsOf(ref, targetName, 'orders'));

      const first = await world.copier(kind).copy(request);
      const again = await world.copier(kind).copy(request);
      await world.finish();

      expect(first.outcome).toBe('started');
      expect(again).toEqual({ outcome: 'exists', targetId: first.targetId });
    },
    60_000,
  );

  it.each(KIND_NAMES)(
    '%s: refuses for good the copy of a source not shared with the backup account, and has no copy to describe',
    async (kind) => {
      const ref = await world.source(kind, false);
      const targetName = `bunker-contract-${kind}-3`;

      const refused = await world
        .copier(kind)
        .copy(firstCopyRequest(KINDS[kind], ref, targetName, world.key, copyTagsOf(ref, targetName, 'orders')))
        .catch((error: unknown) => error);
      await world.finish();

      expect(refused).toBeInstanceOf(CopyRefusedError);
      expect(await world.copier(kind).describeCopy({ targetName, region: REGION })).toBeUndefined();
    },
    60_000,
  );

  it.each(KIND_NAMES)('%s: describes a copy never made as undefined', async (kind) => {
    expect(
      await world.copier(kind).describeCopy({ targetName: 'bunker-never-copied', region: REGION }),
    ).toBeUndefined();
  });
});
