import { describe, expect, it } from 'vitest';
import {
  INTERMEDIATE_PREFIX,
  intakeTopicArn,
  intermediateSnapshotId,
  rdsSnapshotArn,
  readerRoleArn,
  rejectionId,
  sanitizeRdsIdentifier,
  sourceAccountOfTopic,
  sourceNames,
  vaultNames,
  vaultRoleArns,
} from '../../lambdas/core/names';
import { artifactId } from '../../lambdas/kinds/registry';
import { rdsSnapshot } from '../../lambdas/kinds/rds-snapshot/kind';

/** What RDS accepts as a snapshot identifier: a letter first, single hyphens, no trailing hyphen. */
const RDS_IDENTIFIER = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const RDS_IDENTIFIER_MAX = 255;

const BACKUP = '111111111111';
const SOURCE_A = '222222222222';
const SOURCE_B = '333333333333';
const AUTOMATED_ID = 'rds:orders-db-2026-03-01-04-10';

const arnOf = (snapshotId: string, account = SOURCE_A, region = 'eu-west-1') =>
  `arn:aws:rds:${region}:${account}:snapshot:${snapshotId}`;

/** The backup copy's name of an RDS snapshot (`rdsSnapshot.targetName`), from the parts of its ARN. */
const backupSnapshotId = (arnOrId: string, generation = 0) => {
  const match = /^arn:([^:]+):rds:([^:]+):(\d{12}):snapshot:(.*)$/s.exec(arnOrId);
  const [partition, region, account, id] = match ? match.slice(1) : ['aws', 'eu-west-1', SOURCE_A, arnOrId];
  return rdsSnapshot.targetName({ kind: 'rds-snapshot', partition, region, account, id }, generation);
};
const rdsArtifactId = (arn: string) => {
  const ref = rdsSnapshot.parseArn(arn);
  return ref ? artifactId(ref) : `unparsable:${arn}`;
};

function expectValidRdsIdentifier(id: string): void {
  expect(id).toMatch(RDS_IDENTIFIER);
  expect(id.length).toBeLessThanOrEqual(RDS_IDENTIFIER_MAX);
}

const nastySnapshotIds: ReadonlyArray<{ name: string; snapshotId: string }> = [
  { name: 'an automated snapshot id with its rds: prefix', snapshotId: AUTOMATED_ID },
  { name: 'an AWS Backup snapshot id', snapshotId: 'awsbackup:job-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d' },
  { name: 'the longest snapshot id an ARN may carry', snapshotId: `a${'b'.repeat(254)}` },
  { name: 'a long id of hyphen-separated words', snapshotId: 'orders-db-'.repeat(25).slice(0, 255) },
  { name: 'an upper-case id', snapshotId: 'ORDERS-DB-NIGHTLY' },
  { name: 'an id starting with a digit', snapshotId: '2026-03-01-orders' },
  { name: 'consecutive hyphens', snapshotId: 'orders--db---nightly' },
  { name: 'a trailing hyphen', snapshotId: 'orders-db-' },
  { name: 'only punctuation', snapshotId: ':-:' },
];

describe("an RDS snapshot copy's name (rdsSnapshot.targetName)", () => {
  it('names the copy after the source account and snapshot, then a hash', () => {
    expect(backupSnapshotId(arnOf(AUTOMATED_ID))).toMatch(
      /^bunker-222222222222-rds-orders-db-2026-03-01-04-10-[0-9a-f]{10}$/,
    );
  });

  it('is deterministic across calls and releases, so a retried copy lands on the same target', () => {
    // Written out: a changed name would make the next release copy everything again.
    expect(backupSnapshotId(arnOf(AUTOMATED_ID))).toBe('bunker-222222222222-rds-orders-db-2026-03-01-04-10-8bf9fabc56');
  });

  it.each([
    { name: 'the same snapshot id in two accounts', other: arnOf(AUTOMATED_ID, SOURCE_B) },
    { name: 'the same snapshot id in two Regions', other: arnOf(AUTOMATED_ID, SOURCE_A, 'eu-central-1') },
    {
      name: 'the same snapshot id in two partitions',
      other: arnOf(AUTOMATED_ID).replace('arn:aws:', 'arn:aws-cn:'),
    },
    {
      name: 'an automated and a manual snapshot of the same name',
      other: arnOf(AUTOMATED_ID.replace('rds:', '')),
    },
    {
      name: 'ids that differ only in case',
      other: arnOf(AUTOMATED_ID.toUpperCase().replace('RDS:', 'rds:')),
    },
  ])('tells apart $name', ({ other }) => {
    expect(backupSnapshotId(other)).not.toBe(backupSnapshotId(arnOf(AUTOMATED_ID)));
  });

  it('tells apart long ids that differ only after the readable part is cut', () => {
    const stem = `s${'x'.repeat(250)}`;

    expect(backupSnapshotId(arnOf(`${stem}-a`))).not.toBe(backupSnapshotId(arnOf(`${stem}-b`)));
  });

  it.each(nastySnapshotIds)('is a valid RDS identifier for $name', ({ snapshotId }) => {
    expectValidRdsIdentifier(backupSnapshotId(arnOf(snapshotId)));
  });

  it.each([
    { name: 'an id with spaces', raw: 'not an id at all' },
    { name: 'a very long id', raw: 'Z_'.repeat(600) },
    { name: 'an empty id', raw: '' },
    { name: 'an id with colons', raw: 'rds:orders-2026' },
    { name: 'unicode', raw: 'snapshot-é-日本-🙂' },
  ])('is a valid RDS identifier even for $name', ({ raw }) => {
    const id = backupSnapshotId(raw);

    expectValidRdsIdentifier(id);
    expect(id.startsWith('bunker-')).toBe(true);
  });

  it('uses every character RDS allows when the source id is long', () => {
    expect(backupSnapshotId(arnOf(`a${'b'.repeat(254)}`))).toHaveLength(RDS_IDENTIFIER_MAX);
  });

  it('moves to a new name for the next generation (a retry after a failed copy)', () => {
    expect(backupSnapshotId(arnOf('orders'), 1)).not.toBe(backupSnapshotId(arnOf('orders'), 0));
    expect(backupSnapshotId(arnOf('orders'), 1)).toMatch(/^bunker-222222222222-orders-[0-9a-f]{10}$/);
  });

  it("leaves the agent's share prefix out of the copy's name", () => {
    expect(backupSnapshotId(arnOf('bunker-share-orders-db-0123456789'))).toMatch(
      /^bunker-222222222222-orders-db-0123456789-[0-9a-f]{10}$/,
    );
  });
});

describe('intermediateSnapshotId', () => {
  it('drops the rds: prefix of an automated snapshot and adds the share prefix', () => {
    expect(intermediateSnapshotId(AUTOMATED_ID)).toMatch(
      new RegExp(`^${INTERMEDIATE_PREFIX}-orders-db-2026-03-01-04-10-[0-9a-f]{10}$`),
    );
  });

  it('is deterministic', () => {
    expect(intermediateSnapshotId(AUTOMATED_ID)).toBe('bunker-share-orders-db-2026-03-01-04-10-b44bc3556f');
  });

  it.each([
    {
      name: 'an automated and a manual snapshot of the same name',
      a: AUTOMATED_ID,
      b: 'orders-db-2026-03-01-04-10',
    },
    { name: 'ids that differ only in punctuation', a: 'orders_db', b: 'orders.db' },
    { name: 'ids that differ only in case', a: 'Orders', b: 'orders' },
    { name: 'long ids that differ only at the end', a: `s${'x'.repeat(250)}-a`, b: `s${'x'.repeat(250)}-b` },
  ])('tells apart $name', ({ a, b }) => {
    expect(intermediateSnapshotId(a)).not.toBe(intermediateSnapshotId(b));
  });

  it.each(nastySnapshotIds)('is a valid RDS identifier for $name', ({ snapshotId }) => {
    const id = intermediateSnapshotId(snapshotId);

    expectValidRdsIdentifier(id);
    expect(id.startsWith(`${INTERMEDIATE_PREFIX}-`)).toBe(true);
  });

  it('is a valid RDS identifier for an id far longer than RDS allows', () => {
    expectValidRdsIdentifier(intermediateSnapshotId('Long_Name.'.repeat(100)));
  });

  it('is never taken for a backup copy name', () => {
    expect(intermediateSnapshotId(AUTOMATED_ID)).not.toBe(backupSnapshotId(arnOf(AUTOMATED_ID)));
  });
});

describe('sanitizeRdsIdentifier', () => {
  it.each([
    { raw: 'Orders_DB.nightly', clean: 'orders-db-nightly' },
    { raw: 'rds:orders-2026', clean: 'rds-orders-2026' },
    { raw: '--a---b--', clean: 'a-b' },
    { raw: 'a  b', clean: 'a-b' },
    { raw: 'already-clean-1', clean: 'already-clean-1' },
    { raw: '___', clean: '' },
  ])('turns $raw into $clean', ({ raw, clean }) => {
    expect(sanitizeRdsIdentifier(raw)).toBe(clean);
  });
});

describe('rdsSnapshot.parseArn', () => {
  it.each([
    {
      name: 'a manual DB snapshot',
      arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:orders-before-migration`,
      parsed: {
        partition: 'aws',
        region: 'eu-west-1',
        account: SOURCE_A,
        id: 'orders-before-migration',
      },
    },
    {
      name: 'a snapshot in the China partition',
      arn: `arn:aws-cn:rds:cn-north-1:${SOURCE_A}:snapshot:orders`,
      parsed: {
        partition: 'aws-cn',
        region: 'cn-north-1',
        account: SOURCE_A,
        id: 'orders',
      },
    },
    {
      name: 'a snapshot in GovCloud',
      arn: `arn:aws-us-gov:rds:us-gov-west-1:${SOURCE_A}:snapshot:orders`,
      parsed: {
        partition: 'aws-us-gov',
        region: 'us-gov-west-1',
        account: SOURCE_A,
        id: 'orders',
      },
    },
  ])('reads $name', ({ arn, parsed }) => {
    expect(rdsSnapshot.parseArn(arn)).toEqual({ kind: 'rds-snapshot', ...parsed });
  });

  it.each([
    { name: 'an empty string', arn: '' },
    {
      name: 'an automated snapshot (never shareable)',
      arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:rds:db-2026-03-01-04-10`,
    },
    {
      name: 'a cluster snapshot (another kind)',
      arn: `arn:aws:rds:us-east-1:${SOURCE_B}:cluster-snapshot:orders-cluster-final`,
    },
    { name: 'a snapshot id alone', arn: 'orders-before-migration' },
    { name: 'another service', arn: `arn:aws:ec2:eu-west-1:${SOURCE_A}:snapshot:snap-0123456789abcdef0` },
    { name: 'a DB instance', arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:db:orders` },
    { name: 'an 11-digit account', arn: 'arn:aws:rds:eu-west-1:22222222222:snapshot:orders' },
    { name: 'a 13-digit account', arn: 'arn:aws:rds:eu-west-1:2222222222222:snapshot:orders' },
    { name: 'no Region', arn: `arn:aws:rds::${SOURCE_A}:snapshot:orders` },
    { name: 'no snapshot id', arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:` },
    { name: 'no resource type', arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:orders` },
    { name: 'another partition prefix', arn: `arn:azure:rds:eu-west-1:${SOURCE_A}:snapshot:orders` },
    { name: 'an underscore in the id', arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:orders_db` },
    { name: 'a slash in the id', arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:orders/db` },
    { name: 'a trailing newline', arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:orders\n` },
    { name: 'leading spaces', arn: `  arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:orders` },
    {
      name: 'an id longer than 255 characters',
      arn: `arn:aws:rds:eu-west-1:${SOURCE_A}:snapshot:${'a'.repeat(256)}`,
    },
    { name: 'upper-case ARN prefix', arn: `ARN:AWS:RDS:eu-west-1:${SOURCE_A}:snapshot:orders` },
  ])('rejects $name', ({ arn }) => {
    expect(rdsSnapshot.parseArn(arn)).toBeUndefined();
  });

  it('reads back what rdsSnapshotArn builds for a manual snapshot, and refuses an automated one (never shared)', () => {
    const arn = rdsSnapshotArn('aws', 'eu-central-1', SOURCE_B, AUTOMATED_ID);

    expect(arn).toBe(`arn:aws:rds:eu-central-1:${SOURCE_B}:snapshot:${AUTOMATED_ID}`);
    expect(rdsSnapshot.parseArn(arn)).toBeUndefined();
    const manual = rdsSnapshotArn('aws', 'eu-central-1', SOURCE_B, 'orders-final');
    expect(rdsSnapshot.parseArn(manual)).toEqual({
      kind: 'rds-snapshot',
      partition: 'aws',
      region: 'eu-central-1',
      account: SOURCE_B,
      id: 'orders-final',
    });
  });
});

describe('cross-account ARNs', () => {
  it('names the reader role of a source account', () => {
    expect(readerRoleArn('bunker', SOURCE_A, 'eu-west-1')).toBe(`arn:aws:iam::${SOURCE_A}:role/bunker-reader`);
  });

  it('names one reader role per account, whatever the Region, because IAM is global', () => {
    expect(readerRoleArn('bunker', SOURCE_A, 'eu-central-1')).toBe(readerRoleArn('bunker', SOURCE_A, 'eu-west-1'));
    expect(readerRoleArn('bunker', SOURCE_B, 'eu-west-1')).not.toBe(readerRoleArn('bunker', SOURCE_A, 'eu-west-1'));
  });

  it('names one intake topic per source account, in the backup account and Region', () => {
    expect(intakeTopicArn('acme', BACKUP, 'eu-central-1', SOURCE_A)).toBe(
      `arn:aws:sns:eu-central-1:${BACKUP}:acme-intake-${SOURCE_A}`,
    );
    expect(intakeTopicArn('acme', BACKUP, 'cn-north-1', SOURCE_A, 'aws-cn')).toBe(
      `arn:aws-cn:sns:cn-north-1:${BACKUP}:acme-intake-${SOURCE_A}`,
    );
  });

  it.each([
    {
      name: "a source's intake topic",
      arn: `arn:aws:sns:eu-west-1:${BACKUP}:acme-intake-${SOURCE_A}`,
      account: SOURCE_A,
    },
    {
      name: 'a topic in another account',
      arn: `arn:aws:sns:eu-west-1:${SOURCE_A}:acme-intake-${SOURCE_A}`,
      account: undefined,
    },
    {
      name: 'a topic in another Region',
      arn: `arn:aws:sns:us-east-1:${BACKUP}:acme-intake-${SOURCE_A}`,
      account: undefined,
    },
    {
      name: "another deployment's topic",
      arn: `arn:aws:sns:eu-west-1:${BACKUP}:other-intake-${SOURCE_A}`,
      account: undefined,
    },
    {
      name: 'a topic named for no account',
      arn: `arn:aws:sns:eu-west-1:${BACKUP}:acme-intake-alerts`,
      account: undefined,
    },
    { name: 'not an ARN', arn: 'acme-intake-222222222222', account: undefined },
  ])('reads the source account of $name', ({ arn, account }) => {
    expect(sourceAccountOfTopic('acme', BACKUP, 'eu-west-1', arn)).toBe(account);
  });

  it('names the four vault Lambda roles of the backup account', () => {
    expect(vaultRoleArns('acme', BACKUP)).toEqual([
      `arn:aws:iam::${BACKUP}:role/acme-intake`,
      `arn:aws:iam::${BACKUP}:role/acme-completion`,
      `arn:aws:iam::${BACKUP}:role/acme-sweep`,
      `arn:aws:iam::${BACKUP}:role/acme-audit`,
    ]);
  });

  it('derives the ARNs from the same names the stacks give the resources', () => {
    const vault = vaultNames('acme');

    expect(
      intakeTopicArn('acme', BACKUP, 'eu-west-1', SOURCE_A).endsWith(`:${vault.intakeTopicPrefix}${SOURCE_A}`),
    ).toBe(true);
    expect(
      readerRoleArn('acme', SOURCE_A, 'eu-west-1').endsWith(`:role/${sourceNames('acme', 'eu-west-1').readerRole}`),
    ).toBe(true);
    expect(vaultRoleArns('acme', BACKUP).map((arn) => arn.split('/').pop())).toEqual([
      vault.intakeRole,
      vault.completionRole,
      vault.sweepRole,
      vault.auditRole,
    ]);
  });
});

describe('inventory keys', () => {
  const bodies = [
    '{"version":1}',
    '{"version":2}',
    '',
    ' ',
    rdsArtifactId(arnOf(AUTOMATED_ID)),
    'rejected:0123456789abcdef0123456789abcdef',
  ];

  it('gives a message body the same rejection id every time', () => {
    expect(rejectionId('{"version":2}')).toBe('rejected:732322c128ed67841ef5aa42c7cd04ff');
  });

  it('gives different message bodies different rejection ids', () => {
    expect(new Set(bodies.map(rejectionId)).size).toBe(bodies.length);
  });

  it.each(bodies)('keeps the rejection id of %j apart from every artifact id', (body) => {
    const id = rejectionId(body);

    expect(id).toMatch(/^rejected:[0-9a-f]{32}$/);
    expect(id.startsWith('rds-snapshot:')).toBe(false);
    expect(rdsArtifactId(body).startsWith('rejected:')).toBe(false);
  });

  it('keys an RDS snapshot copy by its kind, account, Region and id', () => {
    expect(rdsArtifactId(arnOf('orders-final'))).toBe(`rds-snapshot:${SOURCE_A}:eu-west-1:orders-final`);
  });
});
