/**
 * The kind registry: what each snapshot kind knows of its identifiers, its
 * copy names and its copy events, and the rules every kind keeps.
 */
import { describe, expect, it } from 'vitest';
import { ALL_KINDS, artifactId, kindByConfigKey, KINDS, poolOf } from '../../lambdas/kinds/registry';
import type { ArtifactRef, KindName } from '../../lambdas/kinds/types';

const SOURCE = '222222222222';
const ref = (kind: KindName, id: string, region = 'eu-west-1', partition = 'aws'): ArtifactRef => ({
  kind,
  partition,
  account: SOURCE,
  region,
  id,
});

describe('the kind registry', () => {
  it('lists the four snapshot kinds with their config keys and AWS copy quotas', () => {
    expect(ALL_KINDS.map((k) => [k.name, k.configKey, k.defaultCopyLimit])).toEqual([
      ['rds-snapshot', 'rds', 20],
      ['aurora-cluster-snapshot', 'aurora', 5],
      ['ebs-snapshot', 'ebs', 20],
      ['ami', 'ami', 100],
    ]);
  });

  it('finds a kind by its config key', () => {
    expect(kindByConfigKey('aurora').name).toBe('aurora-cluster-snapshot');
  });

  it('keys an artifact by kind, account, Region and id, and pools copies by kind and target Region', () => {
    expect(artifactId(ref('ebs-snapshot', 'snap-0123456789abcdef0'))).toBe(
      'ebs-snapshot:222222222222:eu-west-1:snap-0123456789abcdef0',
    );
    expect(poolOf('ami', 'eu-central-1')).toBe('ami@eu-central-1');
  });
});

describe('ARNs of every partition', () => {
  it.each([
    {
      kind: 'rds-snapshot' as const,
      arn: `arn:aws-us-gov:rds:us-gov-west-1:${SOURCE}:snapshot:orders-final`,
      parsed: { partition: 'aws-us-gov', region: 'us-gov-west-1', account: SOURCE, id: 'orders-final' },
    },
    {
      kind: 'aurora-cluster-snapshot' as const,
      arn: `arn:aws-cn:rds:cn-north-1:${SOURCE}:cluster-snapshot:ledger-final`,
      parsed: { partition: 'aws-cn', region: 'cn-north-1', account: SOURCE, id: 'ledger-final' },
    },
    {
      kind: 'ebs-snapshot' as const,
      arn: 'arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0',
      parsed: { partition: 'aws', region: 'eu-west-1', account: SOURCE, id: 'snap-0123456789abcdef0' },
    },
    {
      kind: 'ami' as const,
      arn: 'arn:aws-cn:ec2:cn-northwest-1::image/ami-0123456789abcdef0',
      parsed: { partition: 'aws-cn', region: 'cn-northwest-1', account: SOURCE, id: 'ami-0123456789abcdef0' },
    },
  ])('reads a $kind ARN', ({ kind, arn, parsed }) => {
    // EC2 ARNs carry no account: the caller says whose it is, as the Describe proved.
    expect(KINDS[kind].parseArn(arn, SOURCE)).toEqual({ kind, ...parsed });
  });

  it('does not take an EC2 ARN without an account for anyone in particular', () => {
    expect(KINDS['ebs-snapshot'].parseArn('arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0')).toBeUndefined();
  });

  it.each([
    { kind: 'rds-snapshot' as const, arn: `arn:aws:rds:eu-west-1:${SOURCE}:cluster-snapshot:ledger` },
    { kind: 'aurora-cluster-snapshot' as const, arn: `arn:aws:rds:eu-west-1:${SOURCE}:snapshot:orders` },
    { kind: 'ebs-snapshot' as const, arn: 'arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0' },
    { kind: 'ami' as const, arn: 'arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0' },
    { kind: 'ebs-snapshot' as const, arn: 'arn:azure:ec2:eu-west-1::snapshot/snap-0123456789abcdef0' },
  ])('does not take another kind or partition for a $kind', ({ kind, arn }) => {
    expect(KINDS[kind].parseArn(arn, SOURCE)).toBeUndefined();
  });

  it("builds each kind's ARN in the partition of the reference", () => {
    expect(KINDS['rds-snapshot'].arn(ref('rds-snapshot', 'orders', 'cn-north-1', 'aws-cn'))).toBe(
      `arn:aws-cn:rds:cn-north-1:${SOURCE}:snapshot:orders`,
    );
    expect(KINDS.ami.arn(ref('ami', 'ami-0123456789abcdef0'))).toBe(
      'arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0',
    );
  });
});

describe('identifiers', () => {
  it.each([
    { kind: 'ebs-snapshot' as const, good: 'snap-0123456789abcdef0', bad: 'snap-XYZ' },
    { kind: 'ami' as const, good: 'ami-0123abcd', bad: 'ami-0123abcd; rm -rf /' },
    { kind: 'rds-snapshot' as const, good: 'bunker-share-orders-1a2b', bad: 'rds:orders-2026' },
    { kind: 'aurora-cluster-snapshot' as const, good: 'ledger-final', bad: `l${'x'.repeat(63)}` },
    // RDS refuses two hyphens in a row or one at the end, and may answer a Describe of such an id with
    // InvalidParameterValue instead of "not found": the schema refuses it.
    { kind: 'rds-snapshot' as const, good: 'orders-2026-11-23', bad: 'orders--2026' },
    { kind: 'rds-snapshot' as const, good: 'orders-a', bad: 'orders-' },
    { kind: 'aurora-cluster-snapshot' as const, good: 'ledger-2', bad: 'ledger--2' },
  ])('accepts $good and refuses $bad as a $kind id', ({ kind, good, bad }) => {
    expect(KINDS[kind].isId(good)).toBe(true);
    expect(KINDS[kind].isId(bad)).toBe(false);
  });
});

describe('ARNs of identifiers RDS refuses', () => {
  it.each([
    'arn:aws:rds:eu-west-1:222222222222:snapshot:orders--1',
    'arn:aws:rds:eu-west-1:222222222222:snapshot:orders-',
    'arn:aws:rds:eu-west-1:222222222222:cluster-snapshot:ledger--1',
  ])('does not parse %s', (arn) => {
    expect(KINDS['rds-snapshot'].parseArn(arn)).toBeUndefined();
    expect(KINDS['aurora-cluster-snapshot'].parseArn(arn)).toBeUndefined();
  });
});

describe('copy names', () => {
  it('keeps an Aurora copy name within the 63 characters a cluster snapshot id allows', () => {
    const name = KINDS['aurora-cluster-snapshot'].targetName(ref('aurora-cluster-snapshot', `l${'x'.repeat(62)}`), 0);

    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^bunker-222222222222-l?x*-[0-9a-f]{10}$/);
  });

  it.each(ALL_KINDS.map((k) => k.name))(
    'gives a %s copy a name starting with bunker- that changes with the generation',
    (kind) => {
      const id = {
        'rds-snapshot': 'orders',
        'aurora-cluster-snapshot': 'ledger',
        'ebs-snapshot': 'snap-0123456789abcdef0',
        ami: 'ami-0123456789abcdef0',
      }[kind];
      const first = KINDS[kind].targetName(ref(kind, id), 0);

      expect(first.startsWith('bunker-222222222222-')).toBe(true);
      expect(KINDS[kind].targetName(ref(kind, id), 0)).toBe(first);
      expect(KINDS[kind].targetName(ref(kind, id), 1)).not.toBe(first);
      expect(KINDS[kind].targetName({ ...ref(kind, id), account: '333333333333' }, 0)).not.toBe(first);
    },
  );
});

describe('copy events', () => {
  it.each([
    {
      kind: 'rds-snapshot' as const,
      detailType: 'RDS DB Snapshot Event',
      detail: { EventID: 'RDS-EVENT-0197', SourceIdentifier: 'bunker-222222222222-orders-0123456789' },
      target: 'bunker-222222222222-orders-0123456789',
    },
    {
      kind: 'aurora-cluster-snapshot' as const,
      detailType: 'RDS DB Cluster Snapshot Event',
      detail: { EventID: 'RDS-EVENT-0076', SourceIdentifier: 'bunker-222222222222-ledger-0123456789' },
      target: 'bunker-222222222222-ledger-0123456789',
    },
    {
      kind: 'ebs-snapshot' as const,
      detailType: 'EBS Snapshot Notification',
      detail: {
        event: 'copySnapshot',
        result: 'succeeded',
        snapshot_id: 'arn:aws:ec2::eu-west-1:snapshot/snap-0fedcba9876543210',
        source: 'arn:aws:ec2::eu-central-1:snapshot/snap-0123456789abcdef0',
      },
      target: 'snap-0fedcba9876543210',
    },
    {
      kind: 'ami' as const,
      detailType: 'EC2 AMI State Change',
      detail: { ImageId: 'ami-0fedcba9876543210', State: 'available' },
      target: 'ami-0fedcba9876543210',
    },
  ])('reads the copy a $kind event names', ({ kind, detailType, detail, target }) => {
    expect(KINDS[kind].copyEventTarget(detailType, detail)).toBe(target);
    for (const other of ALL_KINDS.filter((k) => k.name !== kind)) {
      expect(other.copyEventTarget(detailType, detail)).toBeUndefined();
    }
  });

  it('ignores an RDS snapshot event that is not a copy finishing or failing', () => {
    expect(
      KINDS['rds-snapshot'].copyEventTarget('RDS DB Snapshot Event', {
        EventID: 'RDS-EVENT-0091',
        SourceIdentifier: 'rds:orders-2026-03-01',
      }),
    ).toBeUndefined();
  });

  it('ignores an EBS createSnapshot event', () => {
    expect(
      KINDS['ebs-snapshot'].copyEventTarget('EBS Snapshot Notification', {
        event: 'createSnapshot',
        snapshot_id: 'arn:aws:ec2::eu-west-1:snapshot/snap-0fedcba9876543210',
      }),
    ).toBeUndefined();
  });

  it.each(ALL_KINDS.map((k) => k.name))('reads back the finished-copy event the local mode sends for %s', (kind) => {
    const target =
      kind === 'ebs-snapshot' ? 'snap-0fedcba9876543210' : kind === 'ami' ? 'ami-0fedcba9876543210' : 'bunker-x';
    const event = KINDS[kind].finishedCopyEvent(target, 'eu-west-1', 'aws');

    expect(KINDS[kind].copyEventTarget(event.detailType, event.detail)).toBe(target);
  });
});
