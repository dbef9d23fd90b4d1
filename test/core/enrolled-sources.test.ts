/**
 * Enrolled accounts are audited and pulled like listed ones: the auditor
 * discovers the resources of every account the SourceRegistry holds now,
 * and a kind's fan-out job becomes one pull job per active enrolled account
 * and Region. The enrolments are made by the enrolment itself over an
 * in-memory organization, so "active" and "departed" are the real records.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { audit, type AuditDeps } from '../../lambdas/core/audit/audit';
import { enrolOrganization } from '../../lambdas/core/enrolment/enrol';
import { EnrolledSourceRegistry } from '../../lambdas/core/enrolment/registry';
import { silentLog } from '../../lambdas/core/ports';
import { fanOutJobs } from '../../lambdas/core/pull/fan-out';
import { MemoryAlerts, MemoryAuditRecords, MemoryScopeDiscovery } from '../../sim/memory-audit';
import { ManualClock, MemoryInventory } from '../../sim/memory-aws';
import { MemoryEnrolments, MemoryIntakeTopics, MemoryOrganization } from '../../sim/memory-enrolment';

const BACKUP = '111111111111';
const LISTED = '222222222222';
const STAYS = '444444444444';
const ALSO = '555555555555';
const LEAVES = '666666666666';
const ROOT = 'r-ab12';
const PROD = 'ou-ab12-prod0001';
const DATA = 'ou-ab12-data0001';
const ELSEWHERE = 'ou-ab12-else0001';
const TAG = { 'bunker:backup': 'true' };

/** LISTED is listed; STAYS (in PROD) and ALSO (in DATA) are enrolled; LEAVES was enrolled and moved out of the units. */
async function enrolledWorld() {
  const org = new MemoryOrganization()
    .addUnit(PROD, ROOT)
    .addUnit(DATA, ROOT)
    .addUnit(ELSEWHERE, ROOT)
    .addAccount(LISTED, PROD)
    .addAccount(STAYS, PROD)
    .addAccount(ALSO, DATA)
    .addAccount(LEAVES, PROD);
  const enrolments = new MemoryEnrolments();
  const clock = new ManualClock('2026-03-02T00:00:00.000Z');
  const enrol = () =>
    enrolOrganization({
      settings: {
        backupAccount: BACKUP,
        units: [
          { id: PROD, regions: ['eu-west-1', 'eu-central-1'] },
          { id: DATA, regions: ['eu-west-1'] },
        ],
        listedAccounts: [LISTED],
      },
      organization: org,
      topics: new MemoryIntakeTopics({
        prefix: 'bunker',
        backupAccount: BACKUP,
        backupRegion: 'eu-west-1',
        intakeKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/intake',
        intakeQueueArn: 'arn:aws:sqs:eu-west-1:111111111111:bunker-intake',
      }),
      enrolments,
      clock,
      log: silentLog,
    });
  await enrol();
  org.moveAccount(LEAVES, ELSEWHERE);
  expect(await enrol()).toMatchObject({ departed: [LEAVES] });
  const listed = [{ account: LISTED, regions: ['eu-west-1'] }];
  return { listed, registry: new EnrolledSourceRegistry(listed, enrolments, clock) };
}

describe('enrolled accounts in the audit', () => {
  let world: Awaited<ReturnType<typeof enrolledWorld>>;
  beforeAll(async () => {
    world = await enrolledWorld();
  });

  it("judges the resources of the listed and the active enrolled accounts, names the enrolled one's breach, and leaves a departed account's out", async () => {
    const discovery = new MemoryScopeDiscovery();
    for (const [account, id] of [
      [LISTED, 'orders'],
      [STAYS, 'ledger'],
      [LEAVES, 'archive'],
    ]) {
      discovery.add('rds-snapshot', account, 'eu-west-1', { id, scopeIds: [id], tags: TAG });
    }
    const alerts = new MemoryAlerts();
    const deps: AuditDeps = {
      settings: {
        prefix: 'bunker',
        backupAccount: BACKUP,
        sources: world.listed,
        kinds: { 'rds-snapshot': { rpoHours: 24, scope: { tag: { key: 'bunker:backup', value: 'true' } } } },
        stuckAfterHours: 6,
      },
      sources: world.registry,
      discovery,
      inventory: new MemoryInventory(),
      records: new MemoryAuditRecords(),
      alerts,
      log: silentLog,
    };

    const report = await audit(deps, new Date('2026-03-02T12:00:00.000Z'));

    expect(report.resources.map((r) => [r.account, r.region, r.resource, r.state, r.reason])).toEqual([
      [LISTED, 'eu-west-1', 'orders', 'breach', 'nothing shared'],
      [STAYS, 'eu-west-1', 'ledger', 'breach', 'nothing shared'],
    ]);
    expect(alerts.sent.map((sent) => sent.subject)).toEqual([
      'Bunker: rds-snapshot orders in 222222222222 breaches its RPO (nothing shared)',
      'Bunker: rds-snapshot ledger in 444444444444 breaches its RPO (nothing shared)',
    ]);
    expect(report.unreachable).toEqual([]);
  });
});

describe('a fan-out pull job', () => {
  it('expands to exactly the active enrolled accounts × their Regions, never a listed or departed account', async () => {
    const { listed, registry } = await enrolledWorld();

    expect(await fanOutJobs({ kind: 'secrets', fanOut: true }, registry, listed)).toEqual([
      { kind: 'secrets', account: STAYS, region: 'eu-west-1' },
      { kind: 'secrets', account: STAYS, region: 'eu-central-1' },
      { kind: 'secrets', account: ALSO, region: 'eu-west-1' },
    ]);
  });
});
