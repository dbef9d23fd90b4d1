/**
 * Coverage in the core: one case per reason, each a resource as the reader
 * role would list it, judged against a configuration and an inventory
 * written out here.
 */
import { describe, expect, it } from 'vitest';
import { assessCoverage, coverageExitCode } from '../../lambdas/core/coverage/coverage';
import { enabledRegions, partitionOf, planRegions } from '../../lambdas/core/coverage/regions';
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
      unknown: [],
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

  it('says a Region not registered, and notes a kind it could not list there', () => {
    const report = assessCoverage(
      input([
        place([found('ebs', 'vol-far')], { region: 'us-east-2', registered: false, agent: false }),
        place([found('ssm', '/app/far')], {
          region: 'ap-south-1',
          registered: false,
          unlisted: [{ kind: 'ebs', reason: 'AccessDenied: not authorized' }],
        }),
      ]),
    );
    expect(codes(report)).toEqual([
      ['vol-far', ['region-not-registered']],
      ['/app/far', ['region-not-registered']],
    ]);
    expect(report.findings[0].reasons[0]).toEqual({
      code: 'region-not-registered',
      blocking: true,
      detail: 'us-east-2 is not a Region of source 111111111111: no source agent and no pull run there',
      fix: 'add "us-east-2" to the regions of source 111111111111 in the configuration and deploy its source stack',
    });
    expect(report.notes).toEqual([
      '111111111111 ap-south-1 (not registered): could not list ebs: AccessDenied: not authorized; what is there of ebs is unknown',
    ]);
    expect(report.unknown).toEqual([]);
    expect(report.incomplete).toBe(false);
  });

  it('says an image whose snapshots are under the default key where no agent runs', () => {
    const report = assessCoverage(
      input([
        place([found('ami', 'ami-far', { defaultKey: 'aws/ebs' })], {
          region: 'us-east-2',
          registered: false,
          agent: false,
        }),
      ]),
    );
    expect(report.findings[0].reasons.map((r) => [r.code, r.detail])).toEqual([
      [
        'region-not-registered',
        'us-east-2 is not a Region of source 111111111111: no source agent and no pull run there',
      ],
      [
        'default-key',
        'its snapshots are encrypted under the AWS-managed key aws/ebs, which no other account can use, and no source agent runs in 111111111111 us-east-2 to re-key its snapshots (no alias/bunker-share)',
      ],
    ]);
    expect(coverageExitCode(report)).toBe(2);
  });

  it('says once per account which Regions not registered refused every listing: unknown, with what to do', () => {
    const refused = (region: string, reason: string): PlaceSurvey =>
      place([], {
        region,
        registered: false,
        unlisted: [
          { kind: 'keys', reason: 'AccessDeniedException: kms' },
          ...(['rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb'] as ArtifactKind[]).map((k) => ({
            kind: k,
            reason,
          })),
        ],
      });
    const report = assessCoverage(
      input([place([]), refused('ap-south-1', 'AccessDenied: explicit deny'), refused('sa-east-1', 'AccessDenied')]),
    );
    expect(report.unknown).toEqual([
      { account: ACCOUNT, region: 'ap-south-1', reason: 'AccessDenied: explicit deny' },
      { account: ACCOUNT, region: 'sa-east-1', reason: 'AccessDenied' },
    ]);
    expect(report.notes).toEqual([
      '111111111111: could not list anything in 2 Region(s) it does not register: ap-south-1, sa-east-1 (AccessDenied: explicit deny); what is there is unknown, not nothing: redeploy the source stack of 111111111111 in its first listed Region (its reader role bunker-reader may list metadata in every Region), and where a service control policy denies a Region, let that role list there',
    ]);
    expect(report.incomplete).toBe(false);
    expect(coverageExitCode(report)).toBe(0);
  });

  it('notes what it could not learn of the enabled Regions, what --probe-regions left out and what is not enabled', () => {
    const report = assessCoverage(
      input([], {
        accounts: [
          {
            account: '111111111111',
            unlearned: 'UnauthorizedOperation: ec2',
            named: false,
            skipped: [],
            notEnabled: [],
          },
          {
            account: '222222222222',
            unlearned: 'UnauthorizedOperation: ec2',
            named: true,
            skipped: [],
            notEnabled: [],
          },
          { account: '333333333333', named: true, skipped: ['eu-north-1', 'us-west-2'], notEnabled: ['ap-east-1'] },
          { account: '444444444444', named: false, skipped: [], notEnabled: [] },
        ],
      }),
    );
    expect(report.notes).toEqual([
      '111111111111: could not learn which Regions it has enabled (UnauthorizedOperation: ec2), so only its registered Regions were looked in: redeploy its source stack (its reader role may call ec2:DescribeRegions), or name the Regions to look in with --probe-regions',
      '222222222222: could not learn which Regions it has enabled (UnauthorizedOperation: ec2), so only its registered Regions and those --probe-regions names were looked in: redeploy its source stack (its reader role may call ec2:DescribeRegions)',
      '333333333333: not looked in, left out by --probe-regions: eu-north-1, us-west-2',
      '333333333333: not enabled in the account, so nothing can be there: ap-east-1',
    ]);
    expect(report.incomplete).toBe(false);
  });

  it('exits 1 when a registered Region could not be listed and nothing else is wrong', () => {
    const report = assessCoverage(input([place([], { unlisted: [{ kind: 'rds', reason: 'Throttling' }] })]));
    expect(report.incomplete).toBe(true);
    expect(coverageExitCode(report)).toBe(1);
  });
});

describe('the Regions coverage looks in', () => {
  it('takes the enabled Regions of the partition from DescribeRegions', () => {
    expect(
      enabledRegions(
        [
          { name: 'us-east-2', optInStatus: 'opt-in-not-required' },
          { name: 'ap-east-1', optInStatus: 'not-opted-in' },
          { name: 'af-south-1', optInStatus: 'opted-in' },
          { name: 'eu-west-1' },
          { name: 'us-gov-west-1', optInStatus: 'opt-in-not-required' },
          { name: 'cn-north-1', optInStatus: 'opt-in-not-required' },
          { name: 'us-east-2', optInStatus: 'opt-in-not-required' },
        ],
        'aws',
      ),
    ).toEqual(['af-south-1', 'eu-west-1', 'us-east-2']);
    expect(
      enabledRegions(
        [
          { name: 'us-gov-west-1', optInStatus: 'opt-in-not-required' },
          { name: 'us-east-1', optInStatus: 'opt-in-not-required' },
        ],
        'aws-us-gov',
      ),
    ).toEqual(['us-gov-west-1']);
    expect(
      ['eu-west-1', 'cn-northwest-1', 'us-gov-east-1', 'us-iso-east-1', 'us-isob-east-1'].map(partitionOf),
    ).toEqual(['aws', 'aws-cn', 'aws-us-gov', 'aws-iso', 'aws-iso-b']);
  });

  it('looks in every enabled Region not registered, narrowed by --probe-regions', () => {
    const enabled = ['eu-west-1', 'us-east-1', 'us-east-2', 'eu-central-1'];
    expect(planRegions(['eu-west-1'], enabled, undefined)).toEqual({
      probe: ['eu-central-1', 'us-east-1', 'us-east-2'],
      skipped: [],
      notEnabled: [],
    });
    expect(planRegions(['eu-west-1'], enabled, ['us-east-2', 'eu-west-1', 'ap-east-1'])).toEqual({
      probe: ['us-east-2'],
      skipped: ['eu-central-1', 'us-east-1'],
      notEnabled: ['ap-east-1'],
    });
  });

  it('tries only the Regions --probe-regions names when the enabled ones are unknown', () => {
    expect(planRegions(['eu-west-1'], undefined, undefined)).toEqual({ probe: [], skipped: [], notEnabled: [] });
    expect(planRegions(['eu-west-1'], undefined, ['sa-east-1', 'eu-west-1', 'ap-south-1'])).toEqual({
      probe: ['ap-south-1', 'sa-east-1'],
      skipped: [],
      notEnabled: [],
    });
  });
});
