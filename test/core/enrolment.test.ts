import { describe, expect, it } from 'vitest';
import { enrolOrganization, type EnrolmentDeps } from '../../lambdas/core/enrolment/enrol';
import { EnrolledSourceRegistry } from '../../lambdas/core/enrolment/registry';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { silentLog } from '../../lambdas/core/ports';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryEnrolments, MemoryIntakeTopics, MemoryOrganization } from '../../sim/memory-enrolment';
import { BACKUP, delivered, notificationV2, REGION, SOURCE, T0, vaultFixture } from './support/memory-fixtures';

const ROOT = 'r-ab12';
const PROD = 'ou-ab12-prod0001';
const TEAM = 'ou-ab12-team0001';
const SQUAD = 'ou-ab12-squad001';
const SANDBOX = 'ou-ab12-sandbox1';
const NEW_ACCOUNT = '555555555555';
const DEEP_ACCOUNT = '666666666666';
const SANDBOX_ACCOUNT = '777777777777';
const TOPIC = 'arn:aws:sns:eu-west-1:111111111111:bunker-intake-555555555555';
const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/intake';
const QUEUE = 'arn:aws:sqs:eu-west-1:111111111111:bunker-intake';

interface World {
  readonly org: MemoryOrganization;
  readonly topics: MemoryIntakeTopics;
  readonly enrolments: MemoryEnrolments;
  readonly clock: ManualClock;
  readonly deps: EnrolmentDeps;
}

/** Root → PROD (→ TEAM → SQUAD) and SANDBOX; PROD is covered in eu-west-1 and eu-central-1. */
function world(units = [{ id: PROD, regions: ['eu-west-1', 'eu-central-1'] }]): World {
  const org = new MemoryOrganization()
    .addUnit(PROD, ROOT)
    .addUnit(TEAM, PROD)
    .addUnit(SQUAD, TEAM)
    .addUnit(SANDBOX, ROOT)
    .addAccount(SANDBOX_ACCOUNT, SANDBOX);
  const topics = new MemoryIntakeTopics({
    prefix: 'bunker',
    backupAccount: BACKUP,
    backupRegion: REGION,
    intakeKeyArn: KEY,
    intakeQueueArn: QUEUE,
  });
  const enrolments = new MemoryEnrolments();
  const clock = new ManualClock(T0);
  const deps: EnrolmentDeps = {
    settings: { backupAccount: BACKUP, units, listedAccounts: [SOURCE] },
    organization: org,
    topics,
    enrolments,
    clock,
    log: silentLog,
  };
  return { org, topics, enrolments, clock, deps };
}

describe('enrolOrganization', () => {
  it('enrols a new account of a unit once: its topic admits only its agents, its record names the Regions', async () => {
    const w = world();
    w.org.addAccount(NEW_ACCOUNT, PROD);

    const first = await enrolOrganization(w.deps);
    w.clock.advance(3_600_000);
    const second = await enrolOrganization(w.deps);

    expect(first).toEqual({ enrolled: [NEW_ACCOUNT], updated: [], departed: [], unchanged: 0, conflicts: 0 });
    expect(second).toEqual({ enrolled: [], updated: [], departed: [], unchanged: 1, conflicts: 0 });
    expect(w.topics.ensured).toEqual([NEW_ACCOUNT]);
    const topic = w.topics.topics.get(TOPIC);
    expect(topic?.keyArn).toBe(KEY);
    expect([...(topic?.subscriptions ?? [])]).toEqual([QUEUE]);
    expect(topic?.policy.Statement[1]).toEqual({
      Sid: 'ThisSourceAccountsAgentsPublish',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::555555555555:root' },
      Action: 'sns:Publish',
      Resource: TOPIC,
      Condition: {
        ArnEquals: {
          'aws:PrincipalArn': [
            'arn:aws:iam::555555555555:role/bunker-source-agent-eu-west-1',
            'arn:aws:iam::555555555555:role/bunker-source-agent-eu-central-1',
          ],
        },
      },
    });
    expect(await w.enrolments.get(NEW_ACCOUNT)).toEqual({
      artifactId: 'enrolled:555555555555',
      enrolment: 'active',
      account: NEW_ACCOUNT,
      regions: ['eu-west-1', 'eu-central-1'],
      units: [PROD],
      topicArn: TOPIC,
      enrolledAt: '2026-03-01T04:30:00.000Z',
      updatedAt: '2026-03-01T04:30:00.000Z',
      version: 1,
    });
  });

  it('walks child units at any depth, and leaves accounts of other units, suspended ones, listed ones and the backup account alone', async () => {
    const w = world();
    w.org
      .addAccount(DEEP_ACCOUNT, SQUAD)
      .addAccount('888888888888', TEAM, 'SUSPENDED')
      .addAccount(SOURCE, PROD)
      .addAccount(BACKUP, PROD);

    const summary = await enrolOrganization(w.deps);

    expect(summary.enrolled).toEqual([DEEP_ACCOUNT]);
    expect([...w.enrolments.records.keys()]).toEqual([DEEP_ACCOUNT]);
    expect((await w.enrolments.get(DEEP_ACCOUNT))?.units).toEqual([PROD]);
    expect(w.topics.ensured).toEqual([DEEP_ACCOUNT]);
  });

  it('gives an account found under two configured units the Regions of both, each once', async () => {
    const w = world([
      { id: PROD, regions: ['eu-west-1'] },
      { id: TEAM, regions: ['eu-west-1', 'us-east-1'] },
    ]);
    w.org.addAccount(DEEP_ACCOUNT, SQUAD);

    await enrolOrganization(w.deps);

    const record = await w.enrolments.get(DEEP_ACCOUNT);
    expect(record?.regions).toEqual(['eu-west-1', 'us-east-1']);
    expect(record?.units).toEqual([PROD, TEAM]);
  });

  it('marks an account that left the units departed and keeps its topic; it comes back enrolled when it returns', async () => {
    const w = world();
    w.org.addAccount(NEW_ACCOUNT, PROD);
    await enrolOrganization(w.deps);
    w.org.moveAccount(NEW_ACCOUNT, SANDBOX);
    w.clock.advance(3_600_000);

    const left = await enrolOrganization(w.deps);

    expect(left.departed).toEqual([NEW_ACCOUNT]);
    expect(await w.enrolments.get(NEW_ACCOUNT)).toMatchObject({
      enrolment: 'departed',
      departedAt: '2026-03-01T05:30:00.000Z',
      version: 2,
    });
    expect(w.topics.topics.has(TOPIC)).toBe(true);

    w.org.moveAccount(NEW_ACCOUNT, TEAM);
    w.clock.advance(3_600_000);
    const back = await enrolOrganization(w.deps);
    expect(back.enrolled).toEqual([NEW_ACCOUNT]);
    const record = await w.enrolments.get(NEW_ACCOUNT);
    expect(record).toMatchObject({ enrolment: 'active', enrolledAt: '2026-03-01T06:30:00.000Z', version: 3 });
    expect(record?.departedAt).toBeUndefined();
  });

  it('marks an account that stopped being ACTIVE departed', async () => {
    const w = world();
    w.org.addAccount(NEW_ACCOUNT, PROD);
    await enrolOrganization(w.deps);
    w.org.setStatus(NEW_ACCOUNT, 'PENDING_CLOSURE');

    expect((await enrolOrganization(w.deps)).departed).toEqual([NEW_ACCOUNT]);
  });

  it("updates an enrolled account's Regions and topic policy when its unit's Regions change", async () => {
    const w = world([{ id: PROD, regions: ['eu-west-1'] }]);
    w.org.addAccount(NEW_ACCOUNT, PROD);
    await enrolOrganization(w.deps);

    const wider = world([{ id: PROD, regions: ['eu-west-1', 'us-east-1'] }]);
    const summary = await enrolOrganization({ ...wider.deps, enrolments: w.enrolments, organization: w.org });

    expect(summary.updated).toEqual([NEW_ACCOUNT]);
    expect((await w.enrolments.get(NEW_ACCOUNT))?.regions).toEqual(['eu-west-1', 'us-east-1']);
    expect(wider.topics.topics.get(TOPIC)?.policy.Statement[1]).toMatchObject({
      Condition: {
        ArnEquals: {
          'aws:PrincipalArn': [
            'arn:aws:iam::555555555555:role/bunker-source-agent-eu-west-1',
            'arn:aws:iam::555555555555:role/bunker-source-agent-us-east-1',
          ],
        },
      },
    });
  });

  it('counts a record another run wrote first as a conflict and does not overwrite it', async () => {
    const w = world();
    w.org.addAccount(NEW_ACCOUNT, PROD);
    const racing: EnrolmentDeps = {
      ...w.deps,
      enrolments: Object.assign(Object.create(w.enrolments) as MemoryEnrolments, {
        list: async () => [],
        create: (record: Parameters<MemoryEnrolments['create']>[0]) => w.enrolments.create(record),
      }),
    };
    await enrolOrganization(w.deps);

    const summary = await enrolOrganization(racing);

    expect(summary).toEqual({ enrolled: [], updated: [], departed: [], unchanged: 0, conflicts: 1 });
    expect((await w.enrolments.get(NEW_ACCOUNT))?.version).toBe(1);
  });
});

describe('EnrolledSourceRegistry', () => {
  it('answers listed sources without reading, active enrolments with their Regions, departed ones as unknown', async () => {
    const w = world();
    w.org.addAccount(NEW_ACCOUNT, PROD).addAccount(DEEP_ACCOUNT, PROD);
    await enrolOrganization(w.deps);
    w.org.moveAccount(DEEP_ACCOUNT, SANDBOX);
    await enrolOrganization(w.deps);
    let reads = 0;
    const counting = { get: (a: string) => (reads++, w.enrolments.get(a)), list: () => w.enrolments.list() };
    const registry = new EnrolledSourceRegistry([{ account: SOURCE, regions: [REGION] }], counting, w.clock);

    expect(await registry.source(SOURCE)).toEqual({ account: SOURCE, regions: [REGION] });
    expect(reads).toBe(0);
    expect(await registry.source(NEW_ACCOUNT)).toEqual({
      account: NEW_ACCOUNT,
      regions: ['eu-west-1', 'eu-central-1'],
    });
    expect(await registry.source(DEEP_ACCOUNT)).toBeUndefined();
    expect(await registry.source(SANDBOX_ACCOUNT)).toBeUndefined();
    expect(await registry.all()).toEqual([
      { account: SOURCE, regions: [REGION] },
      { account: NEW_ACCOUNT, regions: ['eu-west-1', 'eu-central-1'] },
    ]);
  });

  it('reads an account once a minute at most, so a newly enrolled account is seen within the minute', async () => {
    const w = world();
    let reads = 0;
    const counting = { get: (a: string) => (reads++, w.enrolments.get(a)), list: () => w.enrolments.list() };
    const registry = new EnrolledSourceRegistry([], counting, w.clock);

    expect(await registry.source(NEW_ACCOUNT)).toBeUndefined();
    w.org.addAccount(NEW_ACCOUNT, PROD);
    await enrolOrganization(w.deps);
    w.clock.advance(59_000);
    expect(await registry.source(NEW_ACCOUNT)).toBeUndefined();
    w.clock.advance(1_000);
    expect(await registry.source(NEW_ACCOUNT)).toEqual({
      account: NEW_ACCOUNT,
      regions: ['eu-west-1', 'eu-central-1'],
    });
    expect(reads).toBe(2);
  });
});

describe('intake with enrolled accounts', () => {
  /** A vault whose registry holds NEW_ACCOUNT's enrolment (eu-west-1 only) besides the fixture's listed sources. */
  async function enrolledVault(state: 'active' | 'departed') {
    const v = vaultFixture();
    const enrolments = new MemoryEnrolments();
    await enrolments.create({
      artifactId: 'enrolled:555555555555',
      enrolment: state,
      account: NEW_ACCOUNT,
      regions: [REGION],
      units: [PROD],
      topicArn: TOPIC,
      enrolledAt: T0,
      updatedAt: T0,
      version: 1,
    });
    const registry = new EnrolledSourceRegistry(v.deps.settings.sources, enrolments, v.clock);
    v.shared('bunker-share-ledger', { account: NEW_ACCOUNT });
    const body = delivered(notificationV2('bunker-share-ledger', { sourceAccount: NEW_ACCOUNT }), NEW_ACCOUNT);
    return { v, registry, body };
  }

  it("accepts a notification on an enrolled account's topic and starts its copy", async () => {
    const { v, registry, body } = await enrolledVault('active');

    const outcome = await handleDelivery(body, { ...v.deps, registry });

    expect(outcome).toEqual({
      outcome: 'accepted',
      artifactId: 'rds-snapshot:555555555555:eu-west-1:bunker-share-ledger',
      step: 'started',
    });
  });

  it('rejects the same notification once the account has departed, and without the registry', async () => {
    const { v, registry, body } = await enrolledVault('departed');

    const departed = await handleDelivery(body, { ...v.deps, registry });
    const unregistered = await handleDelivery(body, v.deps);

    for (const outcome of [departed, unregistered]) {
      expect(outcome).toMatchObject({
        outcome: 'rejected',
        reason:
          'delivered through arn:aws:sns:eu-west-1:111111111111:bunker-intake-555555555555, not the intake topic of a registered source account',
      });
    }
  });
});
