import { describe, expect, it } from 'vitest';
import { SettingsError } from '../../lambdas/core/errors';
import {
  applyTransition,
  COPY_STATUSES,
  type CopyStatus,
  canTransition,
  HISTORY_LIMIT,
  type InventoryFilter,
  type InventoryRecord,
  matchesFilter,
  newRecord,
  sourcesOf,
} from '../../lambdas/core/inventory';
import {
  type SourceSettings,
  sourceSettingsFromEnv,
  sourceSettingsToEnv,
  type VaultSettings,
  vaultSettingsFromEnv,
  vaultSettingsToEnv,
} from '../../lambdas/core/settings';

const SOURCE = '222222222222';
const ARN = `arn:aws:rds:eu-west-1:${SOURCE}:snapshot:rds:orders-db-2026-03-01-04-10`;
const T0 = new Date('2026-03-01T04:30:00.000Z');
const T1 = new Date('2026-03-01T04:31:00.000Z');
const T2 = new Date('2026-03-01T05:10:00.000Z');

/** `from` → `to` and whether it is allowed: every pair of the six statuses, written out. */
const TRANSITIONS: ReadonlyArray<readonly [CopyStatus, CopyStatus, boolean]> = [
  // Waiting for capacity: a copy may start, wait again, or be given up.
  ['expected', 'expected', true],
  ['expected', 'copying', true],
  ['expected', 'available', false],
  ['expected', 'failed', true],
  ['expected', 'rejected', false],
  ['expected', 'expired', false],
  // In flight: it completes, fails, is re-issued, or goes back to wait for capacity.
  ['copying', 'expected', true],
  ['copying', 'copying', true],
  ['copying', 'available', true],
  ['copying', 'failed', true],
  ['copying', 'rejected', false],
  ['copying', 'expired', false],
  // A finished copy only ever leaves by the pruner's deletion.
  ['available', 'expected', false],
  ['available', 'copying', false],
  ['available', 'available', false],
  ['available', 'failed', false],
  ['available', 'rejected', false],
  ['available', 'expired', true],
  // Retried: copied again, or put back in the queue; never straight to available.
  ['failed', 'expected', true],
  ['failed', 'copying', true],
  ['failed', 'available', false],
  ['failed', 'failed', false],
  ['failed', 'rejected', false],
  ['failed', 'expired', false],
  // Final and kept apart: a rejected message never becomes a copy.
  ['rejected', 'expected', false],
  ['rejected', 'copying', false],
  ['rejected', 'available', false],
  ['rejected', 'failed', false],
  ['rejected', 'rejected', false],
  ['rejected', 'expired', false],
  // Final: a deleted copy's record stays as the account of what was deleted.
  ['expired', 'expected', false],
  ['expired', 'copying', false],
  ['expired', 'available', false],
  ['expired', 'failed', false],
  ['expired', 'rejected', false],
  ['expired', 'expired', false],
];

function record(status: CopyStatus, extra: Partial<InventoryRecord> = {}): InventoryRecord {
  return newRecord(
    {
      artifactId: `rds-snapshot:${ARN}`,
      kind: 'rds-snapshot',
      status,
      sourceAccount: SOURCE,
      sourceArn: ARN,
      ...extra,
    },
    T0,
  );
}

describe('the copy state machine', () => {
  it('has a row for each of the 36 pairs of statuses', () => {
    const pairs = new Set(TRANSITIONS.map(([from, to]) => `${from}->${to}`));

    expect(pairs.size).toBe(COPY_STATUSES.length ** 2);
  });

  it.each(TRANSITIONS)('%s -> %s allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });

  it.each(['expired', 'rejected'] as const)('lets nothing leave the final status %s', (final) => {
    expect(COPY_STATUSES.filter((to) => canTransition(final, to))).toEqual([]);
  });

  it.each(COPY_STATUSES)('lists as the sources of %s exactly the statuses allowed to move to it', (to) => {
    const expected = TRANSITIONS.filter(([, target, allowed]) => target === to && allowed).map(([from]) => from);

    expect(sourcesOf(to)).toEqual(expected);
  });

  it('lets a copy be (re)started from waiting, in flight or failed, and from nothing else', () => {
    expect(sourcesOf('copying')).toEqual(['expected', 'copying', 'failed']);
  });

  it('lets a record become available only from copying', () => {
    expect(sourcesOf('available')).toEqual(['copying']);
  });

  it('lets a record become expired only from available: nothing in flight or failed is pruned', () => {
    expect(sourcesOf('expired')).toEqual(['available']);
  });

  it('lets no record become rejected: rejections are only ever created', () => {
    expect(sourcesOf('rejected')).toEqual([]);
  });
});

describe('newRecord', () => {
  it('starts the history with its status and time', () => {
    const created = record('expected');

    expect(created.history).toEqual([{ status: 'expected', at: T0.toISOString() }]);
    expect(created.createdAt).toBe(T0.toISOString());
    expect(created.updatedAt).toBe(T0.toISOString());
  });

  it('records the reason of its first status in the history', () => {
    const created = newRecord(
      { artifactId: 'rejected:0123', kind: 'unknown', status: 'rejected', reason: 'message is not JSON' },
      T0,
    );

    expect(created.reason).toBe('message is not JSON');
    expect(created.history).toEqual([{ status: 'rejected', at: T0.toISOString(), reason: 'message is not JSON' }]);
  });

  it('counts no copy attempts unless told otherwise', () => {
    expect(record('expected').copyAttempts).toBe(0);
    expect(record('copying', { copyAttempts: 1 }).copyAttempts).toBe(1);
  });

  it('counts no copy attempts when the count is given as undefined', () => {
    const created = newRecord(
      {
        artifactId: `rds-snapshot:${ARN}`,
        kind: 'rds-snapshot',
        status: 'expected',
        copyAttempts: undefined,
      },
      T0,
    );

    expect(created.copyAttempts).toBe(0);
  });
});

describe('applyTransition', () => {
  it('moves the record to the new status and appends the change to its history', () => {
    const next = applyTransition(record('expected'), 'copying', T1, {
      copyAttempts: 1,
      copyStartedAt: T1.toISOString(),
    });

    expect(next.status).toBe('copying');
    expect(next.copyAttempts).toBe(1);
    expect(next.copyStartedAt).toBe(T1.toISOString());
    expect(next.history).toEqual([
      { status: 'expected', at: T0.toISOString() },
      { status: 'copying', at: T1.toISOString() },
    ]);
  });

  it('sets updatedAt to the transition time and keeps createdAt', () => {
    const next = applyTransition(record('expected'), 'copying', T1);

    expect(next.updatedAt).toBe(T1.toISOString());
    expect(next.createdAt).toBe(T0.toISOString());
  });

  it('records the reason in the record and in the history entry', () => {
    const next = applyTransition(record('copying'), 'failed', T1, {
      reason: 'source snapshot no longer shared',
    });

    expect(next.reason).toBe('source snapshot no longer shared');
    expect(next.history.at(-1)).toEqual({
      status: 'failed',
      at: T1.toISOString(),
      reason: 'source snapshot no longer shared',
    });
  });

  it('clears a stale reason when the new status comes without one', () => {
    const failed = applyTransition(record('copying'), 'failed', T1, { reason: 'copy quota exceeded' });

    const retried = applyTransition(failed, 'copying', T2, { copyAttempts: 2 });

    expect(retried.reason).toBeUndefined();
    expect(retried.history.at(-1)).toEqual({ status: 'copying', at: T2.toISOString() });
  });

  it('keeps the fields the patch does not touch', () => {
    const copying = record('copying', {
      targetId: 'bunker-222222222222-orders-0123456789',
      engine: 'postgres',
    });

    const next = applyTransition(copying, 'available', T1, { completedAt: T1.toISOString(), sizeGiB: 20 });

    expect(next).toMatchObject({
      artifactId: copying.artifactId,
      sourceArn: ARN,
      targetId: 'bunker-222222222222-orders-0123456789',
      engine: 'postgres',
      completedAt: T1.toISOString(),
      sizeGiB: 20,
    });
  });

  it('leaves the original record untouched', () => {
    const original = record('expected');

    applyTransition(original, 'copying', T1, { reason: 'started' });

    expect(original.status).toBe('expected');
    expect(original.history).toHaveLength(1);
    expect(original.reason).toBeUndefined();
  });

  it('records a wait again for the same reason as no new status change, so the history says since when', () => {
    const busy = 'waiting for the copy of another snapshot of DB instance orders-db to finish';
    const waiting = applyTransition(record('expected'), 'expected', T1, { reason: busy });
    const again = applyTransition(waiting, 'expected', T2, { reason: busy });
    const other = applyTransition(again, 'expected', new Date('2026-03-01T05:20:00.000Z'), { reason: 'pool full' });

    expect(again.history).toEqual([
      { status: 'expected', at: T0.toISOString() },
      { status: 'expected', at: T1.toISOString(), reason: busy },
    ]);
    expect(again.version).toBe(3);
    expect(again.updatedAt).toBe(T2.toISOString());
    expect(other.history.map((change) => change.reason)).toEqual([undefined, busy, 'pool full']);
  });

  it(`keeps only the newest ${HISTORY_LIMIT} status changes`, () => {
    let current = record('expected');
    const times: string[] = [T0.toISOString()];
    for (let i = 1; i <= HISTORY_LIMIT + 5; i += 1) {
      const at = new Date(T0.getTime() + i * 60_000);
      current = applyTransition(current, i % 2 === 1 ? 'copying' : 'expected', at);
      times.push(at.toISOString());
    }

    expect(current.history).toHaveLength(HISTORY_LIMIT);
    expect(current.history.map((change) => change.at)).toEqual(times.slice(-HISTORY_LIMIT));
    expect(current.history.at(-1)?.status).toBe(current.status);
  });

  it.each(TRANSITIONS.filter(([, , allowed]) => !allowed).map(([from, to]) => [from, to] as const))(
    'refuses the illegal transition %s -> %s, naming it and the record',
    (from, to) => {
      const current = record(from);

      expect(() => applyTransition(current, to, T1)).toThrow(
        `illegal inventory transition ${from} -> ${to} for rds-snapshot:${ARN}`,
      );
    },
  );
});

describe('matchesFilter', () => {
  const subject = record('available');
  const other = '333333333333';

  it.each<{ name: string; filter: InventoryFilter; matches: boolean }>([
    { name: 'an empty filter', filter: {}, matches: true },
    { name: 'the same account', filter: { account: SOURCE }, matches: true },
    { name: 'another account', filter: { account: other }, matches: false },
    { name: 'the same kind', filter: { kind: 'rds-snapshot' }, matches: true },
    { name: 'another kind', filter: { kind: 'unknown' }, matches: false },
    { name: 'the same status', filter: { status: 'available' }, matches: true },
    { name: 'another status', filter: { status: 'failed' }, matches: false },
    {
      name: 'all three matching',
      filter: { account: SOURCE, kind: 'rds-snapshot', status: 'available' },
      matches: true,
    },
    {
      name: 'two matching and one not',
      filter: { account: SOURCE, kind: 'rds-snapshot', status: 'copying' },
      matches: false,
    },
  ])('$name: $matches', ({ filter, matches }) => {
    expect(matchesFilter(subject, filter)).toBe(matches);
  });

  it('does not match a record without an account to a filter on an account', () => {
    const rejected = newRecord({ artifactId: 'rejected:0123', kind: 'unknown', status: 'rejected' }, T0);

    expect(matchesFilter(rejected, { account: SOURCE })).toBe(false);
    expect(matchesFilter(rejected, { status: 'rejected' })).toBe(true);
  });
});

describe('vault settings', () => {
  const settings: VaultSettings = {
    prefix: 'bunker',
    partition: 'aws',
    backupAccount: '111111111111',
    backupRegion: 'eu-west-1',
    inventoryTable: 'bunker-inventory',
    backupKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
    sources: [
      { account: SOURCE, regions: ['eu-west-1'] },
      { account: '333333333333', regions: ['eu-west-1', 'eu-central-1'] },
    ],
    kinds: {
      'rds-snapshot': { enabled: true, scope: { tag: { key: 'bunker:backup', value: 'true' } }, copyLimit: 20 },
      'aurora-cluster-snapshot': { enabled: true, scope: { ids: ['ledger'] }, copyLimit: 5 },
      'ebs-snapshot': { enabled: false, scope: { tag: { key: 'bunker:backup', value: 'true' } }, copyLimit: 20 },
      ami: { enabled: false, scope: { tag: { key: 'bunker:backup', value: 'true' } }, copyLimit: 100 },
    },
  };

  it('reads back what it writes to the environment', () => {
    expect(vaultSettingsFromEnv(vaultSettingsToEnv(settings))).toEqual(settings);
  });

  it.each(Object.keys(vaultSettingsToEnv(settings)))('names %s when it is missing', (name) => {
    const env: Record<string, string | undefined> = { ...vaultSettingsToEnv(settings), [name]: undefined };

    expect(() => vaultSettingsFromEnv(env)).toThrow(SettingsError);
    expect(() => vaultSettingsFromEnv(env)).toThrow(`${name}:`);
  });

  it.each([
    { name: 'BUNKER_PREFIX', value: '' },
    { name: 'BUNKER_BACKUP_ACCOUNT', value: '11111111111' },
    { name: 'BUNKER_BACKUP_KEY_ARN', value: 'alias/bunker-backup-data' },
    { name: 'BUNKER_SOURCES', value: 'not json' },
    { name: 'BUNKER_SOURCES', value: '[]' },
    { name: 'BUNKER_SOURCES', value: '[{"account":"2222","regions":["eu-west-1"]}]' },
    { name: 'BUNKER_PARTITION', value: 'azure' },
    { name: 'BUNKER_KINDS', value: 'not json' },
    { name: 'BUNKER_KINDS', value: '{}' },
    {
      name: 'BUNKER_KINDS',
      value: JSON.stringify({
        ...settings.kinds,
        'rds-snapshot': { ...settings.kinds['rds-snapshot'], copyLimit: 0 },
      }),
    },
    {
      name: 'BUNKER_KINDS',
      value: JSON.stringify({ ...settings.kinds, ami: { ...settings.kinds.ami, copyLimit: 2.5 } }),
    },
  ])('names $name when it is $value', ({ name, value }) => {
    const env = { ...vaultSettingsToEnv(settings), [name]: value };

    expect(() => vaultSettingsFromEnv(env)).toThrow(SettingsError);
    expect(() => vaultSettingsFromEnv(env)).toThrow(`${name}`);
    expect(() => vaultSettingsFromEnv(env)).toThrow(/^invalid vault settings: /);
  });
});

describe('source agent settings', () => {
  const settings: SourceSettings = {
    prefix: 'bunker',
    partition: 'aws',
    backupAccount: '111111111111',
    sourceAccount: SOURCE,
    sourceRegion: 'eu-central-1',
    shareKeyArn: `arn:aws:kms:eu-central-1:${SOURCE}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`,
    intakeTopicArn: `arn:aws:sns:eu-west-1:111111111111:bunker-intake-${SOURCE}`,
    scopes: { 'rds-snapshot': { tag: { key: 'bunker:backup', value: 'true' } } },
    intermediateRetentionHours: 72,
    intermediateHorizonHours: 336,
    maxIntermediateSnapshots: 20,
    rpoHours: { 'rds-snapshot': 6, ami: 0.5 },
  };

  it.each([
    { name: 'a tag scope', scope: { tag: { key: 'bunker:backup', value: 'true' } } },
    { name: 'a tag scope with an empty value', scope: { tag: { key: 'backup', value: '' } } },
    { name: 'an ids scope', scope: { ids: ['orders-db', 'billing-db'] } },
  ])('reads back what it writes to the environment, with $name', ({ scope }) => {
    const withScope: SourceSettings = { ...settings, scopes: { 'rds-snapshot': scope } };

    expect(sourceSettingsFromEnv(sourceSettingsToEnv(withScope))).toEqual(withScope);
  });

  it('reads each kind’s RPO from BUNKER_RPO_HOURS, fractions of an hour included', () => {
    const env = {
      ...sourceSettingsToEnv(settings),
      BUNKER_RPO_HOURS: '{"rds-snapshot":6,"ami":0.5,"ebs-snapshot":744}',
    };

    expect(sourceSettingsFromEnv(env).rpoHours).toEqual({ 'rds-snapshot': 6, ami: 0.5, 'ebs-snapshot': 744 });
    expect(sourceSettingsToEnv(settings).BUNKER_RPO_HOURS).toBe('{"rds-snapshot":6,"ami":0.5}');
  });

  it.each(Object.keys(sourceSettingsToEnv(settings)))('names %s when it is missing', (name) => {
    const env: Record<string, string | undefined> = { ...sourceSettingsToEnv(settings), [name]: undefined };

    expect(() => sourceSettingsFromEnv(env)).toThrow(SettingsError);
    expect(() => sourceSettingsFromEnv(env)).toThrow(`${name}:`);
  });

  it.each([
    { name: 'BUNKER_SOURCE_ACCOUNT', value: 'payments' },
    { name: 'BUNKER_SHARE_KEY_ARN', value: '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0' },
    { name: 'BUNKER_INTAKE_TOPIC_ARN', value: 'bunker-intake' },
    { name: 'BUNKER_SCOPES', value: '{"rds-snapshot":{"tag":' },
    { name: 'BUNKER_SCOPES', value: '{"rds-snapshot":{}}' },
    { name: 'BUNKER_SCOPES', value: '{"rds-snapshot":{"ids":[]}}' },
    { name: 'BUNKER_SCOPES', value: '{"dynamodb-table":{"ids":["orders"]}}' },
    { name: 'BUNKER_INTERMEDIATE_RETENTION_HOURS', value: '-1' },
    { name: 'BUNKER_INTERMEDIATE_HORIZON_HOURS', value: '0' },
    { name: 'BUNKER_MAX_INTERMEDIATE_SNAPSHOTS', value: 'many' },
    { name: 'BUNKER_RPO_HOURS', value: '{"rds-snapshot":' },
    { name: 'BUNKER_RPO_HOURS', value: '{"rds-snapshot":0}' },
    { name: 'BUNKER_RPO_HOURS', value: '{"rds-snapshot":-6}' },
    { name: 'BUNKER_RPO_HOURS', value: '{"rds-snapshot":"24"}' },
    { name: 'BUNKER_RPO_HOURS', value: '{"rds-snapshot":745}' },
    { name: 'BUNKER_RPO_HOURS', value: '{"ssm-parameter":24}' },
    { name: 'BUNKER_RPO_HOURS', value: '[24]' },
  ])('names $name when it is $value', ({ name, value }) => {
    const env = { ...sourceSettingsToEnv(settings), [name]: value };

    expect(() => sourceSettingsFromEnv(env)).toThrow(SettingsError);
    expect(() => sourceSettingsFromEnv(env)).toThrow(`${name}`);
    expect(() => sourceSettingsFromEnv(env)).toThrow(/^invalid source agent settings: /);
  });
});
