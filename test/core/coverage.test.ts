/**
 * Coverage in the core: one case per reason, each a resource as the reader
 * role would list it, judged against a configuration and an inventory
 * written out here.
 */
import { describe, expect, it } from 'vitest';
import { assessCoverage, coverageExitCode } from '../../lambdas/core/coverage/coverage';
import type { CoverageInput, CoverageKindConfig, FoundResource, PlaceSurvey } from '../../lambdas/core/coverage/types';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import type { PulledRecord } from '../../lambdas/core/pull/types';
import type { ArtifactKind } from '../../lib/config/schema';

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
const NOW = new Date('2026-11-22T12:00:00.000Z');
const TAG = { tag: { key: 'backup', value: 'bunker' } };
const TAGGED = { backup: 'bunker' };

const kind = (overrides: Partial<CoverageKindConfig> = {}): CoverageKindConfig => ({
  enabled: true,
  scope: TAG,
  rpoHours: 24,
  ...overrides,
});

function input(places: PlaceSurvey[], overrides: Partial<CoverageInput> = {}): CoverageInput {
  const kinds = Object.fromEntries(
    (['rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb'] as ArtifactKind[]).map((k) => [k, kind()]),
  ) as Record<ArtifactKind, CoverageKindConfig>;
  return {
    prefix: 'bunker',
    kinds: { ...kinds, ssm: kind({ paths: ['/app/'] }), secrets: kind({ namePrefixes: ['prod/'] }) },
    stuckAfterHours: 6,
    places,
    copies: [],
    pulled: [],
    runs: [],
    now: NOW,
    ...overrides,
  };
}

const place = (resources: FoundResource[], overrides: Partial<PlaceSurvey> = {}): PlaceSurvey => ({
  account: ACCOUNT,
  region: REGION,
  registered: true,
  agent: true,
  resources,
  unlisted: [],
  ...overrides,
});

const found = (k: ArtifactKind, id: string, overrides: Partial<FoundResource> = {}): FoundResource => ({
  kind: k,
  id,
  scopeIds: [id],
  tags: TAGGED,
  ...overrides,
});

const copy = (resource: string, sourceCreatedAt: string): InventoryRecord => ({
  artifactId: `ebs-snapshot:${ACCOUNT}:${REGION}:snap-${resource}`,
  kind: 'ebs-snapshot',
  status: 'available',
  sourceAccount: ACCOUNT,
  sourceRegion: REGION,
  sourceId: `snap-${resource}`,
  sourceResourceId: resource,
  sourceCreatedAt,
  createdAt: sourceCreatedAt,
  updatedAt: sourceCreatedAt,
  copyAttempts: 1,
  failures: 0,
  version: 1,
  history: [],
});

const pulled = (name: string, pulledAt: string): PulledRecord => ({
  artifactId: `ssm-parameter:${ACCOUNT}:${REGION}:${name}`,
  kind: 'ssm-parameter',
  pullScope: `ssm-parameter:${ACCOUNT}:${REGION}`,
  state: 'held',
  sourceAccount: ACCOUNT,
  sourceRegion: REGION,
  sourceId: name,
  latest: { id: '1', modifiedAt: pulledAt, pulledAt, objectKey: 'k', checksum: 'c' },
  createdAt: pulledAt,
  updatedAt: pulledAt,
  version: 1,
});

const codes = (report: ReturnType<typeof assessCoverage>) =>
  report.findings.map((f) => [f.resource, f.reasons.map((r) => r.code)]);

describe('assessCoverage', () => {
  it('finds nothing to change for fresh copies of resources in scope, and exits 0', () => {
    const report = assessCoverage(
      input([place([found('ebs', 'vol-1'), found('ssm', '/app/db')])], {
        copies: [copy('vol-1', '2026-11-22T06:00:00.000Z')],
        pulled: [pulled('/app/db', '2026-11-22T11:00:00.000Z')],
      }),
    );
    expect(report).toEqual({
      at: '2026-11-22T12:00:00.000Z',
      checked: 2,
      findings: [],
      uncovered: 0,
      notes: [],
      incomplete: false,
    });
    expect(coverageExitCode(report)).toBe(0);
  });

  it('says a resource outside the scope, with the tag or id that brings it in', () => {
    const report = assessCoverage(
      input([place([found('ebs', 'vol-2', { tags: {} })])], {
        kinds: { ...input([]).kinds, rds: kind({ scope: { ids: ['db-a'] } }) },
      }),
    );
    expect(report.findings).toEqual([
      {
        kind: 'ebs',
        account: ACCOUNT,
        region: REGION,
        resource: 'vol-2',
        reasons: [
          {
            code: 'outside-scope',
            blocking: true,
            detail: 'not tagged backup=bunker (artifacts.ebs.scope)',
            fix: 'tag it backup=bunker',
          },
        ],
      },
    ]);
    const ids = assessCoverage(
      input([place([found('rds', 'db-b')])], {
        kinds: { ...input([]).kinds, rds: kind({ scope: { ids: ['db-a'] } }) },
      }),
    );
    expect(ids.findings[0].reasons[0]).toMatchObject({
      code: 'outside-scope',
      detail: 'not among the 1 id(s) of artifacts.rds.scope',
      fix: 'add "db-b" to artifacts.rds.scope.ids',
    });
    expect(coverageExitCode(ids)).toBe(2);
  });

  it('says a copy older than the RPO, and a resource never copied, with the auditor’s words', () => {
    const report = assessCoverage(
      input([place([found('ebs', 'vol-3'), found('ebs', 'vol-4'), found('ssm', '/app/new')])], {
        copies: [copy('vol-3', '2026-11-20T12:00:00.000Z')],
      }),
    );
    expect(report.findings.map((f) => [f.resource, f.reasons.map((r) => [r.code, r.detail])])).toEqual([
      ['vol-3', [['no-fresh-copy', 'nothing shared: no snapshot shared within the RPO of 24h; newest copy 48h old']]],
      [
        'vol-4',
        [['no-fresh-copy', 'nothing shared: the source never shared a snapshot of it, and production has taken none']],
      ],
      ['/app/new', [['no-fresh-copy', 'never pulled: the inventory has no record of it']]],
    ]);
  });

  it('says a default-key resource only where no source agent runs to re-key it', () => {
    const resource = found('rds', 'db-default', { defaultKey: 'aws/rds' });
    expect(assessCoverage(input([place([resource])], { copies: [] })).findings[0].reasons.map((r) => r.code)).toEqual([
      'no-fresh-copy',
    ]);
    const report = assessCoverage(input([place([resource], { agent: false })]));
    expect(report.findings[0].reasons[0]).toEqual({
      code: 'default-key',
      blocking: true,
      detail:
        'encrypted under the AWS-managed key aws/rds, which no other account can use, and no source agent runs in 111111111111 eu-west-1 to re-key its snapshots (no alias/bunker-share)',
      fix: 'deploy the source stack to 111111111111 eu-west-1 (its agent re-keys every snapshot in scope under the share key), or re-encrypt it under a customer-managed key',
    });
  });

  it('says a TDE instance cannot be shared, and does not also call it stale', () => {
    const report = assessCoverage(
      input([place([found('rds', 'db-tde', { engine: 'oracle-ee', tdeOptionGroup: 'tde-og' })])]),
    );
    expect(codes(report)).toEqual([['db-tde', ['tde']]]);
    expect(report.findings[0].reasons[0].detail).toBe(
      'oracle-ee with Transparent Data Encryption (option group tde-og): AWS shares no snapshot of a TDE instance with another account',
    );
  });

  it('says a table without point-in-time recovery without counting it uncovered', () => {
    const table: PulledRecord = {
      ...pulled('orders', '2026-11-22T11:00:00.000Z'),
      artifactId: `dynamodb-table:${ACCOUNT}:${REGION}:orders`,
      kind: 'dynamodb-table',
      pullScope: `dynamodb-table:${ACCOUNT}:${REGION}`,
    };
    const report = assessCoverage(
      input([place([found('dynamodb', 'orders', { pointInTimeRecovery: false })])], { pulled: [table] }),
    );
    expect(report.findings[0].reasons).toEqual([
      {
        code: 'no-pitr',
        blocking: false,
        detail:
          'point-in-time recovery is off: the pull dumps it by a throttled scan (up to artifacts.dynamodb.scanReadShare of its read capacity, not one point in time) instead of exporting it',
        fix: 'turn on point-in-time recovery (UpdateContinuousBackups), so the pull exports it instead',
      },
    ]);
    expect(report.uncovered).toBe(0);
    expect(coverageExitCode(report)).toBe(0);
  });

  it('says a parameter or secret outside every prefix', () => {
    const report = assessCoverage(input([place([found('ssm', '/other/db'), found('secrets', 'dev/api')])]));
    expect(report.findings.map((f) => [f.resource, f.reasons.map((r) => [r.code, r.detail, r.fix])])).toEqual([
      [
        'dev/api',
        [
          [
            'outside-prefix',
            'its name is under none of "prod/" (artifacts.secrets.namePrefixes)',
            'move it under one of them, or add its prefix to artifacts.secrets.namePrefixes',
          ],
        ],
      ],
      [
        '/other/db',
        [
          [
            'outside-prefix',
            'its name is under none of "/app/" (artifacts.ssm.paths)',
            'move it under one of them, or add its prefix to artifacts.ssm.paths',
          ],
        ],
      ],
    ]);
  });

  it('says a kind that is disabled while resources of it exist', () => {
    const report = assessCoverage(
      input([place([found('aurora', 'cluster-1')])], {
        kinds: { ...input([]).kinds, aurora: kind({ enabled: false }) },
      }),
    );
    expect(report.findings[0].reasons).toEqual([
      {
        code: 'kind-disabled',
        blocking: true,
        detail: 'aurora is not enabled, so nothing of this kind is backed up',
        fix: 'set artifacts.aurora.enabled to true and deploy',
      },
    ]);
  });

  it('says a Region not registered, and notes what it could not list or did not probe', () => {
    const report = assessCoverage(
      input(
        [
          place([found('ebs', 'vol-far')], { region: 'us-east-2', registered: false, agent: false }),
          place([], { region: 'ap-south-1', registered: false, unlisted: [{ kind: 'ebs', reason: 'AccessDenied' }] }),
        ],
        { unprobed: [{ account: ACCOUNT, regions: ['sa-east-1'] }] },
      ),
    );
    expect(codes(report)).toEqual([['vol-far', ['region-not-registered']]]);
    expect(report.findings[0].reasons[0].fix).toBe(
      'add "us-east-2" to the regions of source 111111111111 in the configuration and deploy its source stack',
    );
    expect(report.notes).toEqual([
      '111111111111 ap-south-1 (not registered): could not list ebs: AccessDenied; the reader role reads only the registered Regions, so what is there is unknown',
      '111111111111: not probed for resources in Regions it does not register: sa-east-1',
    ]);
    expect(report.incomplete).toBe(false);
  });

  it('exits 1 when a registered Region could not be listed and nothing else is wrong', () => {
    const report = assessCoverage(input([place([], { unlisted: [{ kind: 'rds', reason: 'Throttling' }] })]));
    expect(report.incomplete).toBe(true);
    expect(coverageExitCode(report)).toBe(1);
  });
});
