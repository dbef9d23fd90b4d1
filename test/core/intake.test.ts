import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CopyQuotaExceededError, RetryLaterError } from '../../lambdas/core/errors';
import { handleCopyEvent, sweepCopies } from '../../lambdas/core/pipeline/completion';
import { handleDelivery, sourceProblem } from '../../lambdas/core/pipeline/intake';
import type { ScopeSetting } from '../../lambdas/core/settings';
import type { SourceView } from '../../lambdas/kinds/types';
import { Prng, SimulatedFaultError, snsEnvelope } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import {
  BACKUP,
  BY_TAG,
  COPY_MS,
  delivered,
  IN_SCOPE,
  notification,
  notificationV2,
  OTHER,
  OUT_OF_SCOPE,
  rdsRef,
  REGION,
  SECOND_REGION,
  SOURCE,
  STRANGER,
  T0,
  topicOf,
  type VaultFixture,
  vaultFixture,
} from './support/memory-fixtures';

/** The snapshot every single-artifact test shares, and what Bunker calls it (written out, not derived). */
const ID = 'bunker-share-orders';
const ARTIFACT = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders';
const TARGET = 'bunker-222222222222-orders-aec5fb205d';
const SOURCE_ARN = 'arn:aws:rds:eu-west-1:222222222222:snapshot:bunker-share-orders';
const TARGET_ARN = 'arn:aws:rds:eu-west-1:111111111111:snapshot:bunker-222222222222-orders-aec5fb205d';
const POOL = 'rds-snapshot@eu-west-1';
/** T0 (2026-03-01T04:30:00Z) in epoch seconds, plus 30 days of 86 400 s. */
const REJECTION_EXPIRES_AT = 1_772_339_400 + 2_592_000;
/** The 10-minute grace before a claimed copy that is not visible is requested again. */
/** A claim's lease: a crashed claim's copy is requested again after it. */
const LEASE_MS = 3 * 60_000;

const arnOf = (id: string, account = SOURCE, region = REGION) => `arn:aws:rds:${region}:${account}:snapshot:${id}`;
const artifactOf = (id: string, account = SOURCE, region = REGION) => `rds-snapshot:${account}:${region}:${id}`;
/** The inventory key of a rejected body: its SHA-256, cut to 32 hex digits. */
const rejectionOf = (body: string) => `rejected:${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;
/** The characters below U+0020 in `text`: none may reach a reason, a log line or a terminal. */
const controlsIn = (text: string | undefined) => [...(text ?? '')].filter((c) => c.charCodeAt(0) < 0x20);

interface RejectionCase {
  readonly name: string;
  /** Prepares the world and returns the body as the intake queue delivers it. */
  readonly prepare: (v: VaultFixture) => string;
  readonly reason: RegExp;
  /** The account the rejection is attributed to: the one whose intake topic carried it, if any. */
  readonly account?: string;
}

const REJECTIONS: readonly RejectionCase[] = [
  {
    name: 'a body that is not JSON',
    prepare: () => '{"Type": "Notification", ',
    reason: /^delivery is not an SNS notification envelope \(not JSON\)$/,
  },
  {
    name: 'a notification delivered raw, outside an SNS envelope',
    prepare: (v) => {
      v.shared(ID);
      return notificationV2(ID);
    },
    reason: /^delivery is not an SNS notification envelope$/,
  },
  {
    name: 'an SNS envelope that is not a notification',
    prepare: () =>
      JSON.stringify({ Type: 'SubscriptionConfirmation', TopicArn: topicOf(SOURCE), Message: notificationV2(ID) }),
    reason: /^delivery is not an SNS notification envelope$/,
  },
  {
    name: 'a delivery over its size limit',
    prepare: () => snsEnvelope(topicOf(SOURCE), 'x'.repeat(13_000)),
    reason: /^delivery too large: \d+ bytes, limit 12288$/,
  },
  {
    name: "a delivery through an unregistered account's intake topic",
    prepare: (v) => {
      v.shared(ID, { account: STRANGER });
      return delivered(notificationV2(ID, { sourceAccount: STRANGER }), STRANGER);
    },
    reason:
      /^delivered through arn:aws:sns:eu-west-1:111111111111:bunker-intake-444444444444, not the intake topic of a registered source account$/,
  },
  {
    name: 'a delivery through a topic of the right name in another account',
    prepare: (v) => {
      v.shared(ID);
      return snsEnvelope('arn:aws:sns:eu-west-1:444444444444:bunker-intake-222222222222', notificationV2(ID));
    },
    reason: /^delivered through arn:aws:sns:eu-west-1:444444444444:bunker-intake-222222222222, not the intake topic/,
  },
  {
    name: 'a delivery through a topic of the right name in another Region',
    prepare: (v) => {
      v.shared(ID);
      return snsEnvelope('arn:aws:sns:eu-central-1:111111111111:bunker-intake-222222222222', notificationV2(ID));
    },
    reason: /^delivered through arn:aws:sns:eu-central-1:111111111111:bunker-intake-222222222222, not the intake topic/,
  },
  {
    name: "a delivery through another topic of the backup account's",
    prepare: (v) => {
      v.shared(ID);
      return snsEnvelope('arn:aws:sns:eu-west-1:111111111111:alerts-222222222222', notificationV2(ID));
    },
    reason: /^delivered through arn:aws:sns:eu-west-1:111111111111:alerts-222222222222, not the intake topic/,
  },
  {
    name: "a notification naming another registered account, delivered through the sender's topic",
    prepare: (v) => {
      // The named account does have such a snapshot, shared with the backup account: only the transport tells.
      v.shared(ID, { account: OTHER });
      return delivered(notificationV2(ID, { sourceAccount: OTHER }), SOURCE);
    },
    reason: /^names account 333333333333 but was published on the intake topic of account 222222222222$/,
    account: SOURCE,
  },
  {
    name: 'a message that is not JSON',
    prepare: () => delivered('{"version": 2, '),
    reason: /^message is not JSON$/,
    account: SOURCE,
  },
  {
    name: 'a message of an unknown version',
    prepare: (v) => {
      v.shared(ID);
      return delivered(notificationV2(ID, { version: 3 }));
    },
    reason: /^unsupported notification version 3; supported: 1, 2$/,
    account: SOURCE,
  },
  {
    name: 'a message without a version',
    prepare: (v) => {
      v.shared(ID);
      return delivered(JSON.stringify({ kind: 'rds-snapshot', sourceAccount: SOURCE, sourceRegion: REGION, id: ID }));
    },
    reason: /^unsupported notification version none; supported: 1, 2$/,
    account: SOURCE,
  },
  {
    name: 'a message of an unknown kind',
    prepare: () => delivered(notificationV2(ID, { kind: 'dynamodb-backup' })),
    reason:
      /^message does not match notification schema v2: .*expected kind to be one of rds-snapshot, aurora-cluster-snapshot, ebs-snapshot, ami/,
    account: SOURCE,
  },
  {
    name: 'an id that is not an RDS DB snapshot identifier',
    prepare: () => delivered(notificationV2('../../etc/passwd')),
    reason: /^message does not match notification schema v2: id: expected the id of an RDS DB snapshot$/,
    account: SOURCE,
  },
  {
    name: 'a publishedAt that is not a date-time',
    prepare: (v) => {
      v.shared(ID);
      return delivered(notificationV2(ID, { publishedAt: 'yesterday' }));
    },
    reason: /^message does not match notification schema v2: publishedAt: expected an ISO 8601 date-time$/,
    account: SOURCE,
  },
  {
    name: 'a Region not registered for the account',
    prepare: (v) => {
      v.shared(ID, { region: 'us-east-1' });
      return delivered(notificationV2(ID, { sourceRegion: 'us-east-1' }));
    },
    reason: /^Region us-east-1 is not registered for account 222222222222$/,
    account: SOURCE,
  },
  {
    name: "a Region registered for another account but not for the sender's",
    prepare: (v) => {
      v.shared(ID, { account: OTHER, region: SECOND_REGION });
      return delivered(notificationV2(ID, { sourceAccount: OTHER, sourceRegion: SECOND_REGION }), OTHER);
    },
    reason: /^Region eu-central-1 is not registered for account 333333333333$/,
    account: OTHER,
  },
  {
    name: "a v1 ARN of another registered account's snapshot",
    prepare: (v) => {
      v.shared(ID, { account: OTHER });
      return delivered(notification(arnOf(ID, OTHER)));
    },
    reason: /^snapshot ARN is in account 333333333333 and Region eu-west-1, not 222222222222 and eu-west-1$/,
    account: SOURCE,
  },
  {
    name: "a v1 ARN in another Region than the message's",
    prepare: (v) => {
      v.shared(ID, { region: SECOND_REGION });
      return delivered(notification(arnOf(ID, SOURCE, SECOND_REGION)));
    },
    reason: /^snapshot ARN is in account 222222222222 and Region eu-central-1, not 222222222222 and eu-west-1$/,
    account: SOURCE,
  },
  {
    name: 'a kind this vault does not enable',
    prepare: () => delivered(notificationV2('snap-0123456789abcdef0', { kind: 'ebs-snapshot' })),
    reason: /^EBS snapshots are not enabled in this vault$/,
    account: SOURCE,
  },
  {
    name: 'a snapshot that does not exist',
    prepare: () => delivered(notificationV2('bunker-share-missing')),
    reason: /^RDS DB snapshot bunker-share-missing does not exist in account 222222222222$/,
    account: SOURCE,
  },
  {
    name: 'a snapshot not shared with anyone',
    prepare: (v) => {
      v.shared(ID, { sharedWith: [] });
      return delivered(notificationV2(ID));
    },
    reason: /^RDS DB snapshot bunker-share-orders is not shared with the backup account 111111111111$/,
    account: SOURCE,
  },
  {
    name: 'a snapshot shared with another account only',
    prepare: (v) => {
      v.shared(ID, { sharedWith: [OTHER] });
      return delivered(notificationV2(ID));
    },
    reason: /^RDS DB snapshot bunker-share-orders is not shared with the backup account 111111111111$/,
    account: SOURCE,
  },
  {
    name: 'an unencrypted snapshot',
    prepare: (v) => {
      v.world.addSnapshot(SOURCE, REGION, {
        id: ID,
        dbInstanceId: 'orders-db',
        encrypted: false,
        sharedWith: [BACKUP],
      });
      return delivered(notificationV2(ID));
    },
    reason: /^RDS DB snapshot bunker-share-orders is not encrypted: the source agent re-keys before sharing$/,
    account: SOURCE,
  },
  {
    name: 'a snapshot that failed in the source account',
    prepare: (v) => {
      v.world.addSnapshot(SOURCE, REGION, {
        id: ID,
        dbInstanceId: 'orders-db',
        kmsKeyId: v.shareKeyArn,
        sharedWith: [BACKUP],
        finalStatus: 'failed',
      });
      return delivered(notificationV2(ID));
    },
    reason: /^RDS DB snapshot bunker-share-orders is failed in the source account$/,
    account: SOURCE,
  },
];

describe('handleDelivery: rejections', () => {
  it.each(REJECTIONS)('rejects $name, records why under the body hash and copies nothing', async (row) => {
    const v = vaultFixture();
    const body = row.prepare(v);

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome).toEqual({
      outcome: 'rejected',
      reason: expect.stringMatching(row.reason),
      recordId: rejectionOf(body),
    });
    expect(v.inventory.records()).toEqual([
      expect.objectContaining({
        artifactId: rejectionOf(body),
        kind: 'unknown',
        status: 'rejected',
        reason: expect.stringMatching(row.reason),
        expiresAt: REJECTION_EXPIRES_AT,
      }),
    ]);
    expect(v.inventory.peek(rejectionOf(body))?.sourceAccount).toBe(row.account);
    expect(v.world.copies).toEqual([]);
    expect(v.backupCopies()).toEqual([]);
  });

  it('attributes a notification naming another account to the account whose topic carried it, never to the named one', async () => {
    const v = vaultFixture();
    v.shared(ID, { account: OTHER });
    const body = delivered(notificationV2(ID, { sourceAccount: OTHER }), SOURCE);

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('333333333333') });
    expect(outcome).toMatchObject({ reason: expect.stringContaining('222222222222') });
    expect(v.inventory.peek(rejectionOf(body))).toMatchObject({ sourceAccount: '222222222222' });
    expect(await v.inventory.list({ account: OTHER })).toEqual([]);
    expect(v.inventory.peek(artifactOf(ID, OTHER))).toBeUndefined();
  });

  it('lets a rejection expire 30 days after it was recorded (DynamoDB TTL, epoch seconds)', async () => {
    const v = vaultFixture();
    const body = delivered(notificationV2('bunker-share-missing'));

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome.outcome).toBe('rejected');
    expect(v.inventory.peek(rejectionOf(body))).toMatchObject({
      createdAt: T0,
      expiresAt: 1_774_931_400,
    });
  });

  it('never overwrites the record of a real copy when a message about the same snapshot is rejected', async () => {
    const v = vaultFixture();
    v.shared(ID);
    await handleDelivery(delivered(notificationV2(ID)), v.deps);
    v.clock.advance(COPY_MS);
    await handleCopyEvent('RDS DB Snapshot Event', { EventID: 'RDS-EVENT-0197', SourceIdentifier: TARGET }, v.deps);
    const before = v.inventory.peek(ARTIFACT);
    // The same snapshot, claimed by another registered account through its own topic.
    const hostile = delivered(notificationV2(ID, { sourceAccount: OTHER }), OTHER);

    const outcome = await handleDelivery(hostile, v.deps);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'RDS DB snapshot bunker-share-orders does not exist in account 333333333333',
    });
    expect(before?.status).toBe('available');
    expect(v.inventory.peek(ARTIFACT)).toEqual(before);
    expect(v.inventory.peek(rejectionOf(hostile))).toMatchObject({ status: 'rejected', sourceAccount: OTHER });
    expect(v.backupCopies()).toHaveLength(1);
  });

  it('keeps one rejection record for a body delivered twice', async () => {
    const v = vaultFixture();
    const body = delivered(notificationV2('bunker-share-missing'));

    const first = await handleDelivery(body, v.deps);
    const second = await handleDelivery(body, v.deps);

    expect(second).toEqual(first);
    expect(v.inventory.records()).toHaveLength(1);
  });
});

describe('handleDelivery: size and schema of the body as delivered', () => {
  it('rejects a 6 KB message inside a valid envelope as too large, giving its size', async () => {
    const v = vaultFixture();
    v.shared(ID);
    const base = notificationV2(ID, { padding: '' });
    const message = notificationV2(ID, { padding: 'x'.repeat(6144 - Buffer.byteLength(base, 'utf8')) });
    expect(Buffer.byteLength(message, 'utf8')).toBe(6144);
    const body = delivered(message);

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome).toMatchObject({ outcome: 'rejected', reason: 'message too large: 6144 bytes, limit 4096' });
    expect(v.inventory.peek(rejectionOf(body))?.sourceAccount).toBe(SOURCE);
    expect(v.world.copies).toEqual([]);
  });

  it('does not unwrap an envelope nested in the Message: the inner envelope is judged as a notification and rejected', async () => {
    const v = vaultFixture();
    v.shared(ID, { account: OTHER });
    // A sender publishing an envelope that claims OTHER's topic, hoping to be taken for OTHER.
    const inner = snsEnvelope(topicOf(OTHER), notificationV2(ID, { sourceAccount: OTHER }));
    const body = delivered(inner, SOURCE);

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'unsupported notification version none; supported: 1, 2',
    });
    expect(v.inventory.peek(rejectionOf(body))?.sourceAccount).toBe(SOURCE);
    expect(v.inventory.peek(artifactOf(ID, OTHER))).toBeUndefined();
    expect(v.world.copies).toEqual([]);
  });

  it('rejects unknown keys, counting them and showing the first only escaped, never as terminal control characters', async () => {
    const v = vaultFixture();
    v.shared(ID);
    const hostileKey = '\u001b]0;x\u0007\u001b[2J';
    const body = delivered(notificationV2(ID, { [hostileKey]: 'owned', restoreTo: 'anywhere', exportTo: 's3' }));

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome.outcome).toBe('rejected');
    const reason = outcome.outcome === 'rejected' ? outcome.reason : '';
    expect(reason).toMatch(/^message does not match notification schema v2: \(message\): 3 unknown key\(s\), first /);
    expect(reason).toContain('first "\\u001b]0;x\\u0007\\u001b[2J"');
    expect(controlsIn(reason)).toEqual([]);
    expect(controlsIn(v.inventory.peek(rejectionOf(body))?.reason)).toEqual([]);
    expect(v.inventory.peek(rejectionOf(body))?.reason).toBe(reason);
    expect(v.world.copies).toEqual([]);
  });

  it('cuts a very long unknown key in the reason', async () => {
    const v = vaultFixture();
    v.shared(ID);
    const body = delivered(notificationV2(ID, { ['k'.repeat(2000)]: true }));

    const outcome = await handleDelivery(body, v.deps);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: `message does not match notification schema v2: (message): 1 unknown key(s), first "${'k'.repeat(39)}…"`,
    });
    expect(outcome.outcome === 'rejected' ? outcome.reason.length : 0).toBeLessThan(200);
  });
});

describe('handleDelivery: notification versions', () => {
  it('accepts a v2 notification of an RDS DB snapshot and starts its copy', async () => {
    const v = vaultFixture();
    v.shared(ID);

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(outcome).toEqual({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      kind: 'rds-snapshot',
      status: 'copying',
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      sourceId: ID,
      sourceArn: SOURCE_ARN,
      sourceResourceId: 'orders-db',
      targetName: TARGET,
      targetRegion: REGION,
      pool: POOL,
      copyAttempts: 1,
      failures: 0,
    });
    expect(v.inventory.peek(ARTIFACT)?.expiresAt).toBeUndefined();
  });

  it('still accepts a v1 notification naming the snapshot by ARN', async () => {
    const v = vaultFixture();
    v.shared(ID);

    const outcome = await handleDelivery(delivered(notification(SOURCE_ARN)), v.deps);

    expect(outcome).toEqual({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
    expect(v.world.copies).toEqual([expect.objectContaining({ sourceArn: SOURCE_ARN, targetId: TARGET })]);
  });

  it('makes one record and one copy when the same snapshot is announced in v1 and in v2', async () => {
    const v = vaultFixture();
    v.shared(ID);

    const first = await handleDelivery(delivered(notification(SOURCE_ARN)), v.deps);
    const second = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(first).toMatchObject({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
    expect(second).toMatchObject({ outcome: 'accepted', artifactId: ARTIFACT, step: 'in-progress' });
    expect(v.inventory.records()).toHaveLength(1);
    expect(v.world.copies).toHaveLength(1);
  });

  it.each(['2026-03-01T04:25:00+00:00', '2026-03-01T06:25:00.123+02:00', '2026-03-01T04:25:00Z'])(
    'accepts publishedAt %s',
    async (publishedAt) => {
      const v = vaultFixture();
      v.shared(ID);

      const outcome = await handleDelivery(delivered(notificationV2(ID, { publishedAt })), v.deps);

      expect(outcome).toEqual({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
    },
  );

  it('accepts a snapshot from a second registered Region and copies it into the backup Region', async () => {
    const v = vaultFixture();
    v.shared(ID, { region: SECOND_REGION });

    const outcome = await handleDelivery(delivered(notificationV2(ID, { sourceRegion: SECOND_REGION })), v.deps);

    expect(outcome).toMatchObject({
      outcome: 'accepted',
      artifactId: 'rds-snapshot:222222222222:eu-central-1:bunker-share-orders',
    });
    expect(v.world.copies).toEqual([
      expect.objectContaining({ crossRegion: true, crossAccount: true, region: REGION }),
    ]);
    expect(v.inventory.peek('rds-snapshot:222222222222:eu-central-1:bunker-share-orders')).toMatchObject({
      targetRegion: REGION,
      pool: POOL,
    });
  });
});

describe('handleDelivery: scope is judged by the vault on what RDS reports', () => {
  it('rejects, and never copies, a shared and announced snapshot of a DB instance outside the configured ids', async () => {
    const v = vaultFixture({ scope: { ids: ['other-db'] } });
    v.shared(ID);
    const body = delivered(notificationV2(ID));

    const outcome = await handleDelivery(body, v.deps);
    await sweepCopies(v.deps);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'DB instance orders-db is out of scope: it does not match the configured ids (1)',
    });
    expect(v.inventory.peek(rejectionOf(body))?.sourceAccount).toBe(SOURCE);
    expect(v.inventory.peek(ARTIFACT)).toBeUndefined();
    expect(v.world.copies).toEqual([]);
  });

  it("accepts a snapshot whose DB instance carries the scope's tag", async () => {
    const v = vaultFixture({ scope: BY_TAG });
    v.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    v.shared(ID);

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(outcome).toEqual({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
  });

  it("judges by the DB instance's tags, not the snapshot's, while the instance exists", async () => {
    const v = vaultFixture({ scope: BY_TAG });
    v.world.addInstance(SOURCE, REGION, 'orders-db', OUT_OF_SCOPE);
    v.world.addSnapshot(SOURCE, REGION, {
      id: ID,
      dbInstanceId: 'orders-db',
      kmsKeyId: v.shareKeyArn,
      sharedWith: [BACKUP],
      tags: IN_SCOPE,
    });

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'DB instance orders-db is out of scope: it does not match the tag backup=daily',
    });
    expect(v.world.copies).toEqual([]);
  });

  it("falls back to the snapshot's own tags once the DB instance is deleted", async () => {
    const v = vaultFixture({ scope: BY_TAG });
    v.world.addInstance(SOURCE, REGION, 'orders-db', OUT_OF_SCOPE);
    v.world.addSnapshot(SOURCE, REGION, {
      id: ID,
      dbInstanceId: 'orders-db',
      kmsKeyId: v.shareKeyArn,
      sharedWith: [BACKUP],
      tags: IN_SCOPE,
    });
    v.world.addSnapshot(SOURCE, REGION, {
      id: 'bunker-share-untagged',
      dbInstanceId: 'orders-db',
      kmsKeyId: v.shareKeyArn,
      sharedWith: [BACKUP],
    });
    v.world.removeInstance(SOURCE, REGION, 'orders-db');

    const tagged = await handleDelivery(delivered(notificationV2(ID)), v.deps);
    const untagged = await handleDelivery(delivered(notificationV2('bunker-share-untagged')), v.deps);

    expect(tagged).toEqual({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
    expect(untagged).toMatchObject({
      outcome: 'rejected',
      reason: 'DB instance orders-db is out of scope: it does not match the tag backup=daily',
    });
    expect(v.world.copies).toEqual([expect.objectContaining({ sourceArn: SOURCE_ARN })]);
  });
});

describe("handleDelivery: a tag scope, by the tag the intermediate carries or else the resource's tags", () => {
  /** The vault of {@link vaultFixture} with its RDS copier a {@link MemoryCopier}, whose reads of a resource count. */
  const withCopier = (scope: ScopeSetting, ownTags: Record<string, string>, instanceTags?: Record<string, string>) => {
    const v = vaultFixture({ scope });
    const copier = new MemoryCopier('rds-snapshot', v.clock, new Prng(8), { backupAccount: BACKUP });
    copier.addSource(
      rdsRef(ID),
      { resourceId: 'orders-db', scopeIds: ['orders-db', ID], scopeTags: ownTags },
      instanceTags,
    );
    const deps = { ...v.deps, copiers: { ...v.deps.copiers, 'rds-snapshot': copier } };
    return { copier, deliver: () => handleDelivery(delivered(notificationV2(ID)), deps) };
  };
  const CARRIED = { 'bunker:intermediate': 'true', 'bunker:scope-key': 'backup', 'bunker:scope-value': 'daily' };
  const ACCEPTED = { outcome: 'accepted', artifactId: ARTIFACT, step: 'started' };
  const OUT = {
    outcome: 'rejected',
    reason: 'DB instance orders-db is out of scope: it does not match the tag backup=daily',
  };

  it("accepts an intermediate carrying the vault's scope tag without reading the DB instance's tags", async () => {
    const { copier, deliver } = withCopier(BY_TAG, CARRIED, IN_SCOPE);

    expect(await deliver()).toEqual(ACCEPTED);
    expect(copier.resourceReads).toBe(0);
  });

  it.each([
    { name: 'nothing carried', own: { 'bunker:intermediate': 'true' } },
    { name: 'another value carried', own: { ...CARRIED, 'bunker:scope-value': 'weekly' } },
    { name: 'another key carried', own: { ...CARRIED, 'bunker:scope-key': 'tier' } },
    // What CopyTags would copy from a production snapshot: the scope tag's own key is never the agent's reading.
    { name: "the scope tag under its own key (a production snapshot's tag)", own: IN_SCOPE },
  ])("with $name, reads the DB instance's tags and rejects an instance out of scope", async ({ own }) => {
    const { copier, deliver } = withCopier(BY_TAG, own, OUT_OF_SCOPE);

    expect(await deliver()).toMatchObject(OUT);
    expect(copier.resourceReads).toBe(1);
  });

  it("with nothing carried, accepts on the DB instance's tags read once", async () => {
    const { copier, deliver } = withCopier(BY_TAG, { 'bunker:intermediate': 'true' }, IN_SCOPE);

    expect(await deliver()).toEqual(ACCEPTED);
    expect(copier.resourceReads).toBe(1);
  });

  it("with nothing carried and the DB instance deleted, judges on the snapshot's own tags", async () => {
    const { copier, deliver } = withCopier(BY_TAG, { 'bunker:intermediate': 'true' });

    expect(await deliver()).toMatchObject(OUT);
    expect(copier.resourceReads).toBe(1);
  });

  it('judges a scope by ids on the identifiers alone, never reading tags', async () => {
    const listed = withCopier({ ids: ['orders-db'] }, {}, OUT_OF_SCOPE);
    const unlisted = withCopier({ ids: ['billing-db'] }, CARRIED, IN_SCOPE);

    expect(await listed.deliver()).toEqual(ACCEPTED);
    expect(await unlisted.deliver()).toMatchObject({
      outcome: 'rejected',
      reason: 'DB instance orders-db is out of scope: it does not match the configured ids (1)',
    });
    expect([listed.copier.resourceReads, unlisted.copier.resourceReads]).toEqual([0, 0]);
  });

  it('accepts an intermediate tagged by hand with the scope tag while its DB instance is out of scope: the source account writes both, and could as well tag the instance', async () => {
    const { copier, deliver } = withCopier(BY_TAG, CARRIED, OUT_OF_SCOPE);

    expect(await deliver()).toEqual(ACCEPTED);
    expect(copier.resourceReads).toBe(0);
  });
});

describe('sourceProblem: what the Describe proves', () => {
  const settings = () => {
    const { deps } = vaultFixture();
    return { settings: deps.settings, copiers: deps.copiers };
  };
  const view = (fields: Partial<SourceView> = {}): SourceView => ({
    ref: rdsRef(ID),
    arn: SOURCE_ARN,
    ownerAccount: SOURCE,
    state: 'available',
    detail: 'available',
    encrypted: true,
    keyArn: 'arn:aws:kms:eu-west-1:222222222222:key/0c9f7d1e-share',
    sharedWith: [BACKUP],
    resourceId: 'orders-db',
    scopeIds: ['orders-db', ID],
    scopeTags: {},
    ...fields,
  });

  it('finds nothing wrong with an owned, shared, encrypted, in-scope, available snapshot', async () => {
    expect(await sourceProblem(settings(), view())).toBeUndefined();
  });

  it('refuses a snapshot the service says another account owns, whatever the sender', async () => {
    expect(await sourceProblem(settings(), view({ ownerAccount: OTHER }))).toBe(
      'RDS DB snapshot bunker-share-orders is owned by account 333333333333, not by the sender 222222222222',
    );
  });

  it('refuses a snapshot not shared with the backup account', async () => {
    expect(await sourceProblem(settings(), view({ sharedWith: [OTHER, STRANGER] }))).toBe(
      'RDS DB snapshot bunker-share-orders is not shared with the backup account 111111111111',
    );
  });

  it('refuses an AMI whose backing snapshots are not all shared, naming each unshared one', async () => {
    const ami = view({
      ref: { kind: 'ami', partition: 'aws', account: SOURCE, region: REGION, id: 'ami-0123456789abcdef0' },
      arn: 'arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0',
      children: [
        { id: 'snap-0aaaaaaaaaaaaaaa1', encrypted: true, sharedWith: [BACKUP] },
        { id: 'snap-0bbbbbbbbbbbbbbb2', encrypted: true, sharedWith: [OTHER] },
        { id: 'snap-0ccccccccccccccc3', encrypted: true },
      ],
    });

    expect(await sourceProblem(settings(), ami)).toBe(
      'AMI ami-0123456789abcdef0 has backing snapshots not shared with the backup account: snap-0bbbbbbbbbbbbbbb2, snap-0ccccccccccccccc3',
    );
  });

  it('refuses an unencrypted snapshot', async () => {
    expect(await sourceProblem(settings(), view({ encrypted: false, keyArn: undefined }))).toBe(
      'RDS DB snapshot bunker-share-orders is not encrypted: the source agent re-keys before sharing',
    );
  });

  it('refuses a snapshot out of scope, naming its DB instance', async () => {
    expect(await sourceProblem(settings(), view({ resourceId: 'billing-db', scopeIds: ['billing-db', ID] }))).toBe(
      'DB instance billing-db is out of scope: it does not match the configured ids (1)',
    );
  });

  it('shows a failed status word from the service escaped', async () => {
    expect(await sourceProblem(settings(), view({ state: 'failed', detail: 'failed\u001b[2J' }))).toBe(
      'RDS DB snapshot bunker-share-orders is failed\\u001b[2J in the source account',
    );
  });
});

describe('handleDelivery: copies', () => {
  it('copies a shared snapshot once, under the backup key, and records it copying then available', async () => {
    const v = vaultFixture();
    v.shared(ID);

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);
    const whileCopying = v.inventory.peek(ARTIFACT);
    v.clock.advance(COPY_MS);
    const completion = await handleCopyEvent(
      'RDS DB Snapshot Event',
      { EventID: 'RDS-EVENT-0197', SourceIdentifier: TARGET },
      v.deps,
    );

    expect(outcome).toEqual({ outcome: 'accepted', artifactId: ARTIFACT, step: 'started' });
    expect(whileCopying).toMatchObject({ status: 'copying', targetName: TARGET, copyAttempts: 1, copyStartedAt: T0 });
    expect(completion).toEqual({ outcome: 'settled', artifactId: ARTIFACT, step: 'available' });
    expect(v.world.copies).toEqual([
      expect.objectContaining({
        sourceArn: SOURCE_ARN,
        targetId: TARGET,
        kmsKeyArn: v.backupKeyArn,
        crossAccount: true,
      }),
    ]);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'available',
      kmsKeyArn: v.backupKeyArn,
      targetId: TARGET,
      targetArn: TARGET_ARN,
      completedAt: '2026-03-01T04:40:00.000Z',
    });
    // The statuses it went through, each once (a copying record may be rewritten while copying).
    const statuses = v.inventory.peek(ARTIFACT)?.history.map((change) => change.status) ?? [];
    expect(statuses.filter((status, i) => status !== statuses[i - 1])).toEqual(['expected', 'copying', 'available']);
  });

  it('makes one copy and one record when the same snapshot is announced twice', async () => {
    const v = vaultFixture();
    v.shared(ID);

    await handleDelivery(delivered(notificationV2(ID)), v.deps);
    // A re-publication (the agent crashed before tagging) has another publishedAt: another body.
    const again = await handleDelivery(
      delivered(notificationV2(ID, { publishedAt: '2026-03-01T05:25:00.000Z' })),
      v.deps,
    );
    v.clock.advance(COPY_MS);
    const late = await handleDelivery(delivered(notificationV2(ID)), v.deps);
    const afterward = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(again).toMatchObject({ outcome: 'accepted', step: 'in-progress' });
    expect(late).toMatchObject({ outcome: 'accepted', step: 'available' });
    expect(afterward).toMatchObject({ outcome: 'accepted', step: 'unchanged' });
    expect(v.world.copies).toHaveLength(1);
    expect(v.backupCopies()).toHaveLength(1);
    expect(v.inventory.records()).toEqual([expect.objectContaining({ status: 'available', copyAttempts: 1 })]);
  });

  it('asks for a retry, and records nothing, while the snapshot is still being created', async () => {
    const v = vaultFixture();
    v.world.addSnapshot(SOURCE, REGION, {
      id: ID,
      dbInstanceId: 'orders-db',
      kmsKeyId: v.shareKeyArn,
      sharedWith: [BACKUP],
      readyInMs: COPY_MS,
    });

    const attempt = handleDelivery(delivered(notificationV2(ID)), v.deps);

    await expect(attempt).rejects.toBeInstanceOf(RetryLaterError);
    await expect(attempt).rejects.toThrow('RDS DB snapshot bunker-share-orders is creating, not yet available');
    expect(v.inventory.records()).toEqual([]);
    expect(v.world.copies).toEqual([]);
  });

  it('keeps a notification waiting as expected when the pool is full, and the sweep starts it later', async () => {
    const v = vaultFixture({ maxCopies: 1 });
    v.shared('bunker-share-first');
    v.shared('bunker-share-second');
    await handleDelivery(delivered(notificationV2('bunker-share-first')), v.deps);

    const outcome = await handleDelivery(delivered(notificationV2('bunker-share-second')), v.deps);
    const waiting = v.inventory.peek(artifactOf('bunker-share-second'));
    const copiesWhileFull = v.world.copies.length;
    v.clock.advance(COPY_MS);
    const sweep = await sweepCopies(v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(waiting).toMatchObject({
      status: 'expected',
      reason: 'waiting for copy capacity: 1 RDS DB snapshot copies already in progress in eu-west-1',
      copyAttempts: 0,
    });
    expect(copiesWhileFull).toBe(1);
    expect(sweep).toMatchObject({ available: 1, started: 1 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([arnOf('bunker-share-first'), arnOf('bunker-share-second')]);
    expect(v.inventory.peek(artifactOf('bunker-share-second'))?.status).toBe('copying');
  });

  it('keeps a copy refused by the RDS quota as expected, never failed or dropped, and the sweep retries it', async () => {
    const v = vaultFixture();
    v.shared(ID);
    v.world.setCopyQuota(BACKUP, REGION, 0);

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);
    const waiting = v.inventory.peek(ARTIFACT);
    const slotsWhileWaiting = await v.inventory.copiesInProgress(POOL);
    v.world.setCopyQuota(BACKUP, REGION, 20);
    const sweep = await sweepCopies(v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(waiting).toMatchObject({ status: 'expected', reason: expect.stringMatching(/quota/), failures: 0 });
    expect(slotsWhileWaiting).toBe(0);
    expect(sweep).toMatchObject({ started: 1 });
    expect(v.world.copies).toHaveLength(1);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({ status: 'copying', copyAttempts: 2 });
  });

  it('leaves a copy the AWS quota refuses below the vault limit expected, saying it waits on a quota, never failed', async () => {
    const v = vaultFixture({ maxCopies: 5, oneDatabaseEach: true });
    v.world.setCopyQuota(BACKUP, REGION, 1);
    v.shared('bunker-share-first');
    v.shared('bunker-share-second');
    await handleDelivery(delivered(notificationV2('bunker-share-first')), v.deps);

    const outcome = await handleDelivery(delivered(notificationV2('bunker-share-second')), v.deps);
    const waiting = v.inventory.peek(artifactOf('bunker-share-second'));
    const slots = await v.inventory.copiesInProgress(POOL);
    const again = await sweepCopies(v.deps);
    const stillWaiting = v.inventory.peek(artifactOf('bunker-share-second'));
    v.clock.advance(COPY_MS);
    const later = await sweepCopies(v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(waiting).toMatchObject({
      status: 'expected',
      failures: 0,
      reason: expect.stringMatching(
        /^waiting on the RDS DB snapshot copy quota or throttling \(SnapshotQuotaExceeded: .*\); the sweep retries$/,
      ),
    });
    expect(waiting?.nextAttemptAt).toBeUndefined();
    expect(slots).toBe(1);
    expect(again).toMatchObject({ started: 0, failed: 0, waiting: 1 });
    expect(stillWaiting).toMatchObject({ status: 'expected', failures: 0 });
    expect(later).toMatchObject({ available: 1, started: 1, failed: 0 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([arnOf('bunker-share-first'), arnOf('bunker-share-second')]);
    expect(v.inventory.records().filter((r) => r.status === 'failed')).toEqual([]);
  });

  it('treats throttling like the quota: the record waits as expected', async () => {
    const v = vaultFixture();
    v.shared(ID);
    v.monitor.fail(
      { port: 'backup-store', method: 'copyShared' },
      { error: new CopyQuotaExceededError('ThrottlingException: Rate exceeded') },
    );

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'expected',
      reason:
        'waiting on the RDS DB snapshot copy quota or throttling (ThrottlingException: Rate exceeded); the sweep retries',
    });
  });

  it('marks a copy RDS refuses for good as failed, with the reason and a retry after a backoff', async () => {
    const v = vaultFixture();
    // Shared, but under a key the backup account may not use.
    v.world.addSnapshot(SOURCE, REGION, {
      id: ID,
      dbInstanceId: 'orders-db',
      kmsKeyId: v.world.createKey(SOURCE, REGION, 'production-only'),
      sharedWith: [BACKUP],
    });

    const outcome = await handleDelivery(delivered(notificationV2(ID)), v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'failed' });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'failed',
      failures: 1,
      nextAttemptAt: '2026-03-01T05:00:00.000Z',
      reason: expect.stringMatching(/^RDS refused the copy: KMSKeyNotAccessible: .*; retry 2 of 3 after a backoff$/),
    });
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
    expect(v.backupCopies()).toEqual([]);
  });

  it('ends with one available copy when it crashed after RDS started the copy and the message is redelivered', async () => {
    const v = vaultFixture();
    v.shared(ID);
    const body = delivered(notificationV2(ID));
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'after' });

    await expect(handleDelivery(body, v.deps)).rejects.toBeInstanceOf(SimulatedFaultError);
    const redelivered = await handleDelivery(body, v.deps);
    v.clock.advance(COPY_MS);
    await handleCopyEvent('RDS DB Snapshot Event', { EventID: 'RDS-EVENT-0197', SourceIdentifier: TARGET }, v.deps);

    expect(redelivered).toMatchObject({ outcome: 'accepted', step: 'in-progress' });
    expect(v.world.copies).toHaveLength(1);
    expect(v.backupCopies()).toHaveLength(1);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({ status: 'available', copyAttempts: 1 });
  });

  it.each([
    { by: 'the redelivered message', recover: (v: VaultFixture, body: string) => handleDelivery(body, v.deps) },
    { by: 'the sweep', recover: (v: VaultFixture) => sweepCopies(v.deps) },
  ])(
    'requests the copy once more, through $by, only after the lease of its claim, when it crashed after the claim and before the request',
    async ({ recover }) => {
      const v = vaultFixture();
      v.shared(ID);
      const body = delivered(notificationV2(ID));
      v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });

      await expect(handleDelivery(body, v.deps)).rejects.toBeInstanceOf(SimulatedFaultError);
      const claimed = v.inventory.peek(ARTIFACT);
      await recover(v, body);
      v.clock.advance(LEASE_MS - 1);
      await recover(v, body);
      const copiesWithinGrace = v.world.copies.length;
      v.clock.advance(1);
      await recover(v, body);
      v.clock.advance(COPY_MS);
      await handleCopyEvent('RDS DB Snapshot Event', { EventID: 'RDS-EVENT-0197', SourceIdentifier: TARGET }, v.deps);

      expect(claimed).toMatchObject({ status: 'copying', copyAttempts: 1 });
      expect(copiesWithinGrace).toBe(0);
      expect(v.world.copies).toEqual([
        expect.objectContaining({ targetId: TARGET, at: new Date('2026-03-01T04:33:00.000Z') }),
      ]);
      expect(v.inventory.peek(ARTIFACT)).toMatchObject({ status: 'available', copyAttempts: 2 });
    },
  );

  it('never starts more copies than the pool allows when two notifications are handled at the same time', async () => {
    // The intake Lambda handles a batch's records concurrently (BatchProcessor's default).
    const v = vaultFixture({ maxCopies: 1 });
    v.shared('bunker-share-first');
    v.shared('bunker-share-second');

    const outcomes = await Promise.all([
      handleDelivery(delivered(notificationV2('bunker-share-first')), v.deps),
      handleDelivery(delivered(notificationV2('bunker-share-second')), v.deps),
    ]);

    expect(outcomes.map((o) => (o.outcome === 'accepted' ? o.step : o.outcome)).sort()).toEqual([
      'deferred',
      'started',
    ]);
    expect(v.world.copiesInProgress(BACKUP, REGION)).toBe(1);
    expect(await v.inventory.copiesInProgress(POOL)).toBe(1);
  });

  it('makes one copy when the same body is delivered twice at the same time', async () => {
    const v = vaultFixture();
    v.shared(ID);
    const body = delivered(notificationV2(ID));

    const outcomes = await Promise.all([handleDelivery(body, v.deps), handleDelivery(body, v.deps)]);

    expect(outcomes.every((o) => o.outcome === 'accepted')).toBe(true);
    expect(v.world.copies).toHaveLength(1);
    expect(v.inventory.records()).toEqual([expect.objectContaining({ status: 'copying', copyAttempts: 1 })]);
    expect(await v.inventory.copiesInProgress(POOL)).toBe(1);
  });
});
