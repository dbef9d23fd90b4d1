/**
 * Copies nobody can delete early, on the emulator: the real EBS and AMI
 * copiers copy a shared artifact into the backup account and `protect` it;
 * then the backup account itself, through boto3 (no Bunker adapter, no JS
 * SDK), reads the lock back and tries to delete the copy.
 *
 * moto 5.2.5 has neither EBS snapshot locks nor AMI deregistration
 * protection: both are Bunker's launcher (tools/moto/bunker_moto.py), so
 * every test here ends in "(launcher: …)".
 */
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { sdkCopyDeleters } from '../../lambdas/adapters/retention/deleters';
import { ami } from '../../lambdas/kinds/ami/kind';
import { ebsSnapshot } from '../../lambdas/kinds/ebs-snapshot/kind';
import type { CopyView } from '../../lambdas/kinds/types';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { advanceEmulatorClock } from './support/dynamodb-clock';
import {
  amiRef,
  copyTagsOf,
  createKey,
  type Ec2Account,
  Ec2Accounts,
  ebsRef,
  encryptedSnapshot,
  firstCopyRequest,
  REGION,
  shareImageAndStorage,
  shareSnapshot,
  sourceImage,
  vaultCopiers,
} from './support/ec2';

const endpoint = emulatorEndpoint();
const accounts = new Ec2Accounts(endpoint);
afterAll(() => accounts.destroy());

const DAY_MS = 86_400_000;

/** A shared EBS snapshot copied into a fresh backup account by the real copier: the copy's view. */
async function ebsCopy(): Promise<{ backup: Ec2Account; copy: CopyView }> {
  const source = accounts.account();
  const backup = accounts.account();
  const { snapshotId, volumeId } = await encryptedSnapshot(source);
  await shareSnapshot(source, snapshotId, backup.id);
  const { ebs } = await vaultCopiers(endpoint, backup.id);
  const ref = ebsRef(source, snapshotId);
  const targetName = ebsSnapshot.targetName(ref, 0);
  await ebs.copy(
    firstCopyRequest(ebsSnapshot, ref, targetName, await createKey(backup), copyTagsOf(ref, targetName, volumeId)),
  );
  const copy = await ebs.describeCopy({ targetName, region: REGION });
  if (!copy) throw new Error('the copy is not there');
  return { backup, copy };
}

interface DeleteAttempt {
  readonly lock: { LockState?: string; LockExpiresOn?: string; CoolOffPeriod?: number }[];
  readonly error?: string;
  readonly stillThere: boolean;
}

/** As the backup account, with boto3: the copy's lock, a DeleteSnapshot, and whether the snapshot is still there. */
const tryDeleteSnapshot = (account: string, snapshotId: string) =>
  boto3<DeleteAttempt>(
    endpoint,
    account,
    `
ec2 = client('ec2')
lock = ec2.describe_locked_snapshots(SnapshotIds=[ARGS['id']])['Snapshots']
error = None
try:
    ec2.delete_snapshot(SnapshotId=ARGS['id'])
except ec2.exceptions.ClientError as e:
    error = e.response['Error']['Code']
left = ec2.describe_snapshots(Filters=[{'Name': 'snapshot-id', 'Values': [ARGS['id']]}])['Snapshots']
out({'lock': [{k: v for k, v in l.items() if k in ('LockState', 'LockExpiresOn', 'CoolOffPeriod')} for l in lock], 'error': error, 'stillThere': len(left) == 1})
`,
    { id: snapshotId },
  );

describe('EbsSnapshotCopier.protect', () => {
  it('locks an EBS copy in compliance mode for the retention, and the backup account cannot delete it (launcher: snapshot lock)', async () => {
    const { backup, copy } = await ebsCopy();
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const before = Date.now();

    const locked = await ebs.protect(copy, { mode: 'compliance', days: 35, coolOffHours: 0 });

    expect(locked.lock).toBe('compliance');
    const until = Date.parse(locked.lockedUntil);
    expect(until).toBeGreaterThanOrEqual(before + 35 * DAY_MS - 5_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 35 * DAY_MS + 5_000);
    const attempt = await tryDeleteSnapshot(backup.id, copy.targetId);
    expect(attempt.error).toBe('SnapshotLocked');
    expect(attempt.stillThere).toBe(true);
    expect(attempt.lock).toHaveLength(1);
    expect(attempt.lock[0].LockState).toBe('compliance');
    expect(Date.parse(`${attempt.lock[0].LockExpiresOn}`)).toBe(until);
    // The pruner's deleter reads the lock from the code of DeleteSnapshot's refusal: locked, not refused.
    const deleters = sdkCopyDeleters(await localContext(endpoint, backup.id, REGION, 'bunker-retention'));
    const outcome = await deleters['ebs-snapshot'].delete({ targetId: copy.targetId, region: REGION });
    expect(outcome.outcome).toBe('locked');
    expect(outcome.outcome === 'locked' && outcome.detail).toMatch(
      new RegExp(`^SnapshotLocked: The snapshot ${copy.targetId} is locked \\(compliance\\) until `),
    );
  });

  it('keeps the first lock when protected again, so a retry never moves its end (launcher: snapshot lock)', async () => {
    const { backup, copy } = await ebsCopy();
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const first = await ebs.protect(copy, { mode: 'compliance', days: 35, coolOffHours: 24 });
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const second = await ebs.protect(copy, { mode: 'compliance', days: 35, coolOffHours: 24 });

    expect(first.lock).toBe('compliance-cooloff');
    expect(second).toEqual(first);
    const attempt = await tryDeleteSnapshot(backup.id, copy.targetId);
    expect(attempt.lock).toEqual([
      { LockState: 'compliance-cooloff', LockExpiresOn: expect.any(String), CoolOffPeriod: 24 },
    ]);
    expect(attempt.error).toBe('SnapshotLocked');
  });

  it('locks in governance mode when configured so, which refuses DeleteSnapshot too (launcher: snapshot lock)', async () => {
    const { backup, copy } = await ebsCopy();
    const { ebs } = await vaultCopiers(endpoint, backup.id);

    const locked = await ebs.protect(copy, { mode: 'governance', days: 7, coolOffHours: 24 });

    expect(locked.lock).toBe('governance');
    const attempt = await tryDeleteSnapshot(backup.id, copy.targetId);
    expect(attempt.lock[0].LockState).toBe('governance');
    // A cool-off is a compliance notion: none was asked for.
    expect(attempt.lock[0].CoolOffPeriod).toBeUndefined();
    expect(attempt.error).toBe('SnapshotLocked');
    expect(attempt.stillThere).toBe(true);
  });

  it('lets the copy be deleted once its lock has expired (launcher: snapshot lock, account clock)', async () => {
    const { backup, copy } = await ebsCopy();
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    await ebs.protect(copy, { mode: 'compliance', days: 1, coolOffHours: 0 });

    await advanceEmulatorClock(endpoint, backup.id, 2 * 86_400);
    const attempt = await tryDeleteSnapshot(backup.id, copy.targetId);

    expect(attempt.lock[0].LockState).toBe('expired');
    expect(attempt.error).toBeNull();
    expect(attempt.stillThere).toBe(false);
  });
});

describe('AmiCopier.protect', () => {
  it('protects an AMI copy from deregistration and locks its backing snapshots (launcher: deregistration protection, snapshot lock)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImageAndStorage(source, image, backup.id);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, image.imageId);
    const targetName = ami.targetName(ref, 0);
    await copier.copy(
      firstCopyRequest(ami, ref, targetName, await createKey(backup), copyTagsOf(ref, targetName, 'orders-server')),
    );
    const copy = await copier.describeCopy({ targetName, region: REGION });
    if (!copy) throw new Error('the image copy is not there');

    const locked = await copier.protect(copy, { mode: 'compliance', days: 90, coolOffHours: 24 });

    expect(locked.lock).toBe('compliance-cooloff+deregistration-protection');
    const seen = await boto3<{
      protection: string;
      deregister: string | null;
      locks: string[];
      deleteChild: string | null;
    }>(
      endpoint,
      backup.id,
      `
ec2 = client('ec2')
image = ec2.describe_images(ImageIds=[ARGS['image']])['Images'][0]
children = [m['Ebs']['SnapshotId'] for m in image['BlockDeviceMappings'] if 'Ebs' in m]
deregister = None
try:
    ec2.deregister_image(ImageId=ARGS['image'])
except ec2.exceptions.ClientError as e:
    deregister = e.response['Error']['Code']
locks = ec2.describe_locked_snapshots(SnapshotIds=children)['Snapshots']
delete_child = None
try:
    ec2.delete_snapshot(SnapshotId=children[0])
except ec2.exceptions.ClientError as e:
    delete_child = e.response['Error']['Code']
out({'protection': image.get('DeregistrationProtection'), 'deregister': deregister, 'locks': sorted(l['LockState'] for l in locks), 'deleteChild': delete_child})
`,
      { image: copy.targetId },
    );
    expect(seen).toEqual({
      protection: 'enabled-with-cooldown',
      deregister: 'OperationNotPermitted',
      locks: ['compliance-cooloff', 'compliance-cooloff'],
      // Refused twice over: the image still uses it, and it is locked.
      deleteChild: expect.stringMatching(/^(SnapshotLocked|InvalidSnapshot\.InUse)$/),
    });
    // The pruner's deleter reads the protection from the code of DeregisterImage's refusal: locked, not refused.
    const deleters = sdkCopyDeleters(await localContext(endpoint, backup.id, REGION, 'bunker-retention'));
    const outcome = await deleters.ami.delete({
      targetId: copy.targetId,
      region: REGION,
      children: (copy.children ?? []).map((child) => child.id),
    });
    expect(outcome).toEqual({
      outcome: 'locked',
      detail: `OperationNotPermitted: The image ${copy.targetId} has deregistration protection enabled and cannot be deregistered`,
    });
  });
});
