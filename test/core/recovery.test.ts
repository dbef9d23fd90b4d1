import { describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import type { PulledRecord } from '../../lambdas/core/pull/types';
import { chooseCopies, sharesOf } from '../../lambdas/core/recovery/choose';
import { type CallerIdentity, principalOf, sameIdentity } from '../../lambdas/core/recovery/identity';
import {
  approveRecovery,
  type RecoveryDeps,
  RecoveryRefusedError,
  requestRecovery,
  revokeRecovery,
} from '../../lambdas/core/recovery/request';
import {
  type CopySharing,
  type GrantView,
  type KeyGrants,
  type RecoveryCopy,
  type RecoveryRequest,
  type RecoveryRequests,
  recoveryItemId,
  shareKey,
  type ShareTarget,
} from '../../lambdas/core/recovery/types';

const BACKUP = '111111111111';
const LOST = '222222222222';
const TARGET = '555555555555';
const REGION = 'eu-west-1';

const user = (name: string, id: string): CallerIdentity => ({
  account: BACKUP,
  arn: `arn:aws:iam::${BACKUP}:user/${name}`,
  userId: id,
});
const session = (role: string, name: string, roleId = 'AROAEXAMPLEROLE'): CallerIdentity => ({
  account: BACKUP,
  arn: `arn:aws:sts::${BACKUP}:assumed-role/${role}/${name}`,
  userId: `${roleId}:${name}`,
});

describe('the two-person rule: who counts as the same identity', () => {
  it('two IAM users are two identities; one user is one, whatever path its ARN shows', () => {
    expect(sameIdentity(user('alice', 'AIDAALICE'), user('bob', 'AIDABOB'))).toBe(false);
    expect(sameIdentity(user('alice', 'AIDAALICE'), user('alice', 'AIDAALICE'))).toBe(true);
    expect(
      sameIdentity(user('alice', 'AIDAALICE'), {
        ...user('alice', 'AIDAALICE'),
        arn: `arn:aws:iam::${BACKUP}:user/ops/alice`,
      }),
    ).toBe(true);
  });

  it('two sessions of one role are one identity, whatever their session names: the caller of AssumeRole picks them', () => {
    expect(sameIdentity(session('ops', 'alice'), session('ops', 'bob'))).toBe(true);
    expect(principalOf(session('ops', 'bob'))).toBe(`role:${BACKUP}:ops`);
  });

  it('sessions of two roles are two identities', () => {
    expect(sameIdentity(session('ops', 'alice'), session('dba', 'alice', 'AROAOTHERROLE'))).toBe(false);
  });

  it('sessions of an IAM Identity Center role differ by session name, which AWS sets to the signed-in user', () => {
    const role = 'AWSReservedSSO_Admin_0123456789abcdef';
    expect(sameIdentity(session(role, 'alice@example.com'), session(role, 'bob@example.com'))).toBe(false);
    expect(sameIdentity(session(role, 'alice@example.com'), session(role, 'alice@example.com'))).toBe(true);
  });

  it('sessions of the recovery role are the IAM users their session names are, which its trust policy enforces', () => {
    expect(principalOf(session('bunker-recovery', 'alice'))).toBe(`user:${BACKUP}:alice`);
    expect(sameIdentity(session('bunker-recovery', 'alice'), session('bunker-recovery', 'bob'))).toBe(false);
    expect(sameIdentity(session('bunker-recovery', 'alice'), session('bunker-recovery', 'alice'))).toBe(true);
  });

  it('a recovery role session and its IAM user are one identity: alice cannot request as herself and approve through the role', () => {
    expect(sameIdentity(user('alice', 'AIDAALICE'), session('bunker-recovery', 'alice', 'AROARECOVERY'))).toBe(true);
    expect(sameIdentity(user('bob', 'AIDABOB'), session('bunker-recovery', 'alice', 'AROARECOVERY'))).toBe(false);
  });

  it('only a role named as a deployment’s recovery role counts its sessions as persons', () => {
    expect(principalOf(session('ops-recovery-admins', 'alice'))).toBe(`role:${BACKUP}:ops-recovery-admins`);
    expect(principalOf(session('Bunker_recovery', 'alice'))).toBe(`role:${BACKUP}:Bunker_recovery`);
    expect(principalOf(session('prod-recovery', 'alice'))).toBe(`user:${BACKUP}:alice`);
  });

  it('a user and a role session are two identities; the root is one; federated users of an account are one', () => {
    expect(sameIdentity(user('alice', 'AIDAALICE'), session('ops', 'alice'))).toBe(false);
    const root = { account: BACKUP, arn: `arn:aws:iam::${BACKUP}:root`, userId: BACKUP };
    expect(sameIdentity(root, root)).toBe(true);
    const federated = (name: string) => ({
      account: BACKUP,
      arn: `arn:aws:sts::${BACKUP}:federated-user/${name}`,
      userId: `${BACKUP}:${name}`,
    });
    expect(sameIdentity(federated('a'), federated('b'))).toBe(true);
  });
});

const snapshotRecord = (
  id: string,
  fields: Partial<InventoryRecord> & Pick<InventoryRecord, 'kind' | 'sourceResourceId'>,
): InventoryRecord => ({
  artifactId: `${fields.kind}:${LOST}:${REGION}:${id}`,
  status: 'available',
  sourceAccount: LOST,
  sourceRegion: REGION,
  sourceId: id,
  targetId: `copy-of-${id}`,
  targetRegion: REGION,
  createdAt: '2026-03-01T00:00:00.000Z',
  updatedAt: '2026-03-01T00:00:00.000Z',
  copyAttempts: 1,
  failures: 0,
  version: 3,
  history: [],
  ...fields,
});

const pulledRecord = (name: string, fields: Partial<PulledRecord> = {}): PulledRecord => ({
  artifactId: `ssm-parameter:${LOST}:${REGION}:${name}`,
  kind: 'ssm-parameter',
  pullScope: `ssm-parameter:${LOST}:${REGION}`,
  state: 'held',
  sourceAccount: LOST,
  sourceRegion: REGION,
  sourceId: name,
  latest: {
    id: '7',
    modifiedAt: '2026-03-02T10:00:00.000Z',
    pulledAt: '2026-03-02T10:05:00.000Z',
    objectKey: 'ssm/x',
    checksum: 'c',
  },
  createdAt: '2026-03-01T00:00:00.000Z',
  updatedAt: '2026-03-02T10:05:00.000Z',
  version: 2,
  ...fields,
});

const RECORDS: InventoryRecord[] = [
  snapshotRecord('orders-old', {
    kind: 'rds-snapshot',
    sourceResourceId: 'orders',
    sourceCreatedAt: '2026-03-01T04:00:00.000Z',
  }),
  snapshotRecord('orders-new', {
    kind: 'rds-snapshot',
    sourceResourceId: 'orders',
    sourceCreatedAt: '2026-03-02T04:00:00.000Z',
  }),
  snapshotRecord('orders-newest-failed', {
    kind: 'rds-snapshot',
    sourceResourceId: 'orders',
    status: 'failed',
    sourceCreatedAt: '2026-03-03T04:00:00.000Z',
  }),
  snapshotRecord('ledger-1', { kind: 'aurora-cluster-snapshot', sourceResourceId: 'ledger', engine: 'aurora-mysql' }),
  snapshotRecord('web-1', {
    kind: 'ami',
    sourceResourceId: 'web',
    targetId: 'ami-0web',
    targetChildren: ['snap-0root', 'snap-0data'],
  }),
  snapshotRecord('other-account', { kind: 'rds-snapshot', sourceResourceId: 'orders', sourceAccount: '333333333333' }),
];
const PULLED: PulledRecord[] = [
  pulledRecord('/app/db-url'),
  pulledRecord('/app/gone', { state: 'deleted-at-source' }),
  pulledRecord('/app/failed', { state: 'failed', latest: undefined }),
];

describe('chooseCopies', () => {
  it('takes the newest available copy of each resource of the account, pulled resources deleted at the source included', () => {
    const copies = chooseCopies(RECORDS, PULLED, { account: LOST }, REGION);

    expect(copies.map((c) => [c.kind, c.resource, c.copyId])).toEqual([
      ['ami', 'web', 'ami-0web'],
      ['aurora', 'ledger', 'copy-of-ledger-1'],
      ['rds', 'orders', 'copy-of-orders-new'],
      ['ssm', '/app/db-url', '7'],
      ['ssm', '/app/gone', '7'],
    ]);
  });

  it('filters by kind and resource', () => {
    expect(
      chooseCopies(RECORDS, PULLED, { account: LOST, kind: 'rds', resource: 'orders' }, REGION).map(
        (c) => c.artifactId,
      ),
    ).toEqual([`rds-snapshot:${LOST}:${REGION}:orders-new`]);
    expect(chooseCopies(RECORDS, PULLED, { account: LOST, kind: 'ebs' }, REGION)).toEqual([]);
  });

  it('prefers the copy already in the Region to restore into among copies of one moment', () => {
    const hops = [
      snapshotRecord('vol-1', {
        kind: 'ebs-snapshot',
        sourceResourceId: 'vol-1',
        targetId: 'snap-home',
        sourceCreatedAt: '2026-03-01T00:00:00.000Z',
      }),
      snapshotRecord('vol-1@eu-central-1', {
        kind: 'ebs-snapshot',
        sourceResourceId: 'vol-1',
        targetId: 'snap-second',
        targetRegion: 'eu-central-1',
        sourceCreatedAt: '2026-03-01T00:00:00.000Z',
      }),
    ];
    expect(chooseCopies(hops, [], { account: LOST, toRegion: 'eu-central-1' }, REGION).map((c) => c.copyId)).toEqual([
      'snap-second',
    ]);
    expect(chooseCopies(hops, [], { account: LOST, toRegion: 'us-east-1' }, REGION).map((c) => c.copyId)).toEqual([
      'snap-home',
    ]);
  });

  it('shares an image with its backing snapshots, and nothing for a pulled kind', () => {
    const [ami, , , ssm] = chooseCopies(RECORDS, PULLED, { account: LOST }, REGION);

    expect(sharesOf(ami)).toEqual([
      { type: 'image', id: 'ami-0web', region: REGION },
      { type: 'ebs-snapshot', id: 'snap-0root', region: REGION },
      { type: 'ebs-snapshot', id: 'snap-0data', region: REGION },
    ]);
    expect(sharesOf(ssm)).toEqual([]);
  });
});

class MemoryRequests implements RecoveryRequests {
  readonly items = new Map<string, RecoveryRequest>();
  async get(id: string) {
    return this.items.get(recoveryItemId(id));
  }
  async create(request: RecoveryRequest) {
    if (this.items.has(request.artifactId)) return false;
    this.items.set(request.artifactId, request);
    return true;
  }
  async replace(expected: RecoveryRequest, next: RecoveryRequest) {
    if (this.items.get(expected.artifactId)?.version !== expected.version) return false;
    this.items.set(next.artifactId, next);
    return true;
  }
  async list() {
    return [...this.items.values()];
  }
}

/** Shares as AWS keeps them (a set of accounts per snapshot or image); `failAt` makes one call fail once. */
class MemorySharing implements CopySharing {
  readonly sharedWith = new Map<string, Set<string>>();
  calls = 0;
  failAt?: number;
  /** Runs before the `n`th share takes effect (another operator acting meanwhile). */
  meanwhile?: { n: number; run: () => Promise<unknown> };
  async share(target: ShareTarget, account: string) {
    if (++this.calls === this.failAt) throw new Error('the process died');
    if (this.calls === this.meanwhile?.n) await this.meanwhile.run();
    const set = this.sharedWith.get(shareKey(target)) ?? new Set();
    set.add(account);
    this.sharedWith.set(shareKey(target), set);
  }
  async unshare(target: ShareTarget, account: string) {
    this.sharedWith.get(shareKey(target))?.delete(account);
  }
  /** Every snapshot and image shared with anyone, with whom. */
  open(): Record<string, string[]> {
    return Object.fromEntries(
      [...this.sharedWith].filter(([, accounts]) => accounts.size > 0).map(([key, accounts]) => [key, [...accounts]]),
    );
  }
}

/** KMS grants as KMS keeps them: names may repeat. `crashAfterCreate` loses the answer of one create. */
class MemoryGrants implements KeyGrants {
  readonly grants: (GrantView & { keyArn: string })[] = [];
  crashAfterCreate = false;
  async keyArn(region: string) {
    return `arn:aws:kms:${region}:${BACKUP}:key/backup-data`;
  }
  async find(keyArn: string, _region: string, name: string) {
    return this.grants.filter((g) => g.keyArn === keyArn && g.name === name);
  }
  async create(
    keyArn: string,
    _region: string,
    grant: { name: string; grantee: string; operations: readonly string[] },
  ) {
    const grantId = `grant-${this.grants.length + 1}`;
    this.grants.push({ keyArn, grantId, name: grant.name, grantee: grant.grantee, operations: grant.operations });
    if (this.crashAfterCreate) {
      this.crashAfterCreate = false;
      throw new Error('the process died after KMS made the grant');
    }
    return grantId;
  }
  async revoke(keyArn: string, _region: string, grantId: string) {
    const at = this.grants.findIndex((g) => g.keyArn === keyArn && g.grantId === grantId);
    if (at >= 0) this.grants.splice(at, 1);
  }
}

function world() {
  const requests = new MemoryRequests();
  const sharing = new MemorySharing();
  const grants = new MemoryGrants();
  const alerts: string[] = [];
  const deps: RecoveryDeps = {
    requests,
    sharing,
    grants,
    alerts: { publish: async (subject) => void alerts.push(subject) },
    clock: { now: () => new Date('2026-03-05T09:00:00.000Z') },
    prefix: 'bunker',
    backupAccount: BACKUP,
    partition: 'aws',
  };
  return { deps, requests, sharing, grants, alerts };
}

const ALICE = user('alice', 'AIDAALICE');
const BOB = user('bob', 'AIDABOB');
const COPIES: RecoveryCopy[] = chooseCopies(RECORDS, PULLED, { account: LOST }, REGION);
const ask = (copies = COPIES) => ({ id: 'r1', account: LOST, toAccount: TARGET, toRegion: REGION, copies });

/** Everything a recovery of {@link COPIES} shares with {@link TARGET}. */
const ALL_SHARED = {
  [`image:${REGION}:ami-0web`]: [TARGET],
  [`ebs-snapshot:${REGION}:snap-0root`]: [TARGET],
  [`ebs-snapshot:${REGION}:snap-0data`]: [TARGET],
  [`cluster-snapshot:${REGION}:copy-of-ledger-1`]: [TARGET],
  [`db-snapshot:${REGION}:copy-of-orders-new`]: [TARGET],
};

describe('a recovery request', () => {
  it('is recorded pending with the requester, alerts once, and shares nothing', async () => {
    const w = world();

    const request = await requestRecovery(w.deps, ask(), ALICE);

    expect(request).toMatchObject({
      artifactId: 'recovery:r1',
      recovery: 'request',
      state: 'pending',
      requestedBy: ALICE,
    });
    expect(w.alerts).toEqual(['Bunker bunker: recovery of 222222222222 requested']);
    expect(w.sharing.open()).toEqual({});
    expect(w.grants.grants).toEqual([]);
  });

  it('is refused when nothing matches or the recovery account is the backup account', async () => {
    const w = world();

    await expect(requestRecovery(w.deps, ask([]), ALICE)).rejects.toThrow(RecoveryRefusedError);
    await expect(requestRecovery(w.deps, { ...ask(), toAccount: BACKUP }, ALICE)).rejects.toThrow(
      'must not be the backup account',
    );
    expect(w.requests.items.size).toBe(0);
  });

  it('approved by the requester is refused and changes nothing, also through another session of the same role', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), session('ops', 'alice'));
    const before = structuredClone(w.requests.items.get('recovery:r1'));

    await expect(approveRecovery(w.deps, 'r1', session('ops', 'bob'))).rejects.toThrow(
      'two sessions of one role count as one identity',
    );

    expect(w.requests.items.get('recovery:r1')).toEqual(before);
    expect(w.sharing.open()).toEqual({});
    expect(w.grants.grants).toEqual([]);
    expect(w.alerts).toHaveLength(1);
  });

  it('approved by another identity shares each chosen copy with the recovery account only and grants its root the copy operations', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), ALICE);

    const request = await approveRecovery(w.deps, 'r1', BOB);

    expect(w.sharing.open()).toEqual(ALL_SHARED);
    expect(w.grants.grants).toEqual([
      {
        keyArn: `arn:aws:kms:${REGION}:${BACKUP}:key/backup-data`,
        grantId: 'grant-1',
        name: 'bunker-recovery-r1',
        grantee: `arn:aws:iam::${TARGET}:root`,
        operations: ['Decrypt', 'DescribeKey', 'CreateGrant'],
      },
    ]);
    expect(request).toMatchObject({ state: 'open', approvedBy: BOB, requestedBy: ALICE });
    expect(request.shared).toHaveLength(5);
    expect(request.grants.map((g) => g.grantId)).toEqual(['grant-1']);
    expect(w.alerts).toEqual([
      'Bunker bunker: recovery of 222222222222 requested',
      'Bunker bunker: recovery of 222222222222 approved',
    ]);
  });

  it('makes no grant when only pulled kinds are chosen (they need no share)', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(COPIES.filter((c) => c.kind === 'ssm')), ALICE);

    const request = await approveRecovery(w.deps, 'r1', BOB);

    expect(request.state).toBe('open');
    expect(w.sharing.open()).toEqual({});
    expect(w.grants.grants).toEqual([]);
  });

  it('after a crash half way, a re-run finishes the shares and the grant and doubles nothing', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), ALICE);
    w.sharing.failAt = 3;
    await expect(approveRecovery(w.deps, 'r1', BOB)).rejects.toThrow('the process died');
    expect(w.requests.items.get('recovery:r1')).toMatchObject({ state: 'approved' });
    expect(w.requests.items.get('recovery:r1')?.shared).toHaveLength(2);
    w.grants.crashAfterCreate = true;
    await expect(approveRecovery(w.deps, 'r1', BOB)).rejects.toThrow('after KMS made the grant');

    const request = await approveRecovery(w.deps, 'r1', BOB);

    expect(request.state).toBe('open');
    expect(w.sharing.open()).toEqual(ALL_SHARED);
    // The first run: two shares and the call that failed; the second: the three left; the third: none.
    expect(w.sharing.calls).toBe(2 + 1 + 3);
    expect(w.grants.grants.map((g) => g.grantId)).toEqual(['grant-1']);
    expect(request.grants.map((g) => g.grantId)).toEqual(['grant-1']);
    expect(w.alerts.filter((a) => a.endsWith('approved'))).toEqual([
      'Bunker bunker: recovery of 222222222222 approved',
    ]);
  });

  it('revoked, leaves no share and no grant, and cannot be approved again', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), ALICE);
    await approveRecovery(w.deps, 'r1', BOB);

    const request = await revokeRecovery(w.deps, 'r1', ALICE);

    expect(w.sharing.open()).toEqual({});
    expect(w.grants.grants).toEqual([]);
    expect(request).toMatchObject({ state: 'revoked', revokedBy: ALICE, shared: [] });
    await expect(approveRecovery(w.deps, 'r1', BOB)).rejects.toThrow('was revoked');
    expect(w.sharing.open()).toEqual({});
  });

  it('revoked after a crash between a grant and its record, still finds and revokes the grant by its name', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), ALICE);
    w.grants.crashAfterCreate = true;
    await expect(approveRecovery(w.deps, 'r1', BOB)).rejects.toThrow('after KMS made the grant');
    expect(w.grants.grants).toHaveLength(1);

    await revokeRecovery(w.deps, 'r1', BOB);

    expect(w.grants.grants).toEqual([]);
    expect(w.sharing.open()).toEqual({});
  });

  it('revoked while the approval is sharing, ends with nothing shared and no grant', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), ALICE);
    w.sharing.meanwhile = { n: 2, run: () => revokeRecovery(w.deps, 'r1', ALICE) };

    await expect(approveRecovery(w.deps, 'r1', BOB)).rejects.toThrow('was revoked meanwhile');

    expect(w.sharing.open()).toEqual({});
    expect(w.grants.grants).toEqual([]);
    expect(w.requests.items.get('recovery:r1')).toMatchObject({ state: 'revoked', shared: [] });
  });

  it('a pending request withdrawn is never carried out', async () => {
    const w = world();
    await requestRecovery(w.deps, ask(), ALICE);

    await revokeRecovery(w.deps, 'r1', ALICE);

    await expect(approveRecovery(w.deps, 'r1', BOB)).rejects.toThrow('was revoked');
    expect(w.sharing.calls).toBe(0);
  });
});
