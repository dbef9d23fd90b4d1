/**
 * What goes into a function's bundle. Built with the options the function
 * construct deploys with (lib/bundling.ts), from the settings a deployment
 * gives the function: a kind it does not handle leaves its SDK client out,
 * the runtime validation is zod's small build, and the sizes stay under a
 * ceiling. Sizes and contents only: no timing is asserted here (the figures
 * are bench/bundles.ts's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ReaderRoleDiscovery } from '../../lambdas/adapters/audit/discovery';
import { sdkCopyDeleters } from '../../lambdas/adapters/retention/deleters';
import { SettingsError } from '../../lambdas/core/errors';
import { bundleDefines, type BunkerHandlerName, handlerBuildOptions } from '../../lib/bundling';
import { parseConfig } from '../../lib/config/load';
import { auditHandlerSettings } from '../../lib/constructs/audit';
import { BUNKER_RUNTIME, REPO_ROOT } from '../../lib/constructs/bunker-function';
import { retentionSettings } from '../../lib/constructs/retention';
import { auditSettingsToEnv } from '../../lambdas/core/audit/settings';
import { retentionSettingsToEnv } from '../../lambdas/core/retention/settings';

const RDS_ONLY_KINDS = JSON.stringify({
  'rds-snapshot': { enabled: true },
  'aurora-cluster-snapshot': { enabled: false },
  'ebs-snapshot': { enabled: false },
  ami: { enabled: false },
});
const EVERY_KIND = JSON.stringify({
  'rds-snapshot': { enabled: true },
  'aurora-cluster-snapshot': { enabled: true },
  'ebs-snapshot': { enabled: true },
  ami: { enabled: true },
});
const RDS_ONLY_SCOPES = JSON.stringify({ 'rds-snapshot': { tag: { key: 'backup', value: 'daily' } } });
/** The pruner's settings of an RDS-only vault with pulled secrets: copy policies name the enabled kinds only. */
const RDS_ONLY_RETENTION = JSON.stringify({
  copies: { 'rds-snapshot': { retentionDays: 35, minCopies: 1 } },
  values: { secrets: { retentionDays: 90, minCopies: 1 } },
  vaultBucket: 'bunker-vault-111111111111-eu-west-1',
});
/** The auditor's settings, shaped as lib/constructs/audit.ts writes them: `kinds` names the enabled kinds only. */
const auditSettings = (kinds: Record<string, unknown>) =>
  JSON.stringify({
    prefix: 'bunker',
    backupAccount: '111111111111',
    sources: [{ account: '222222222222', regions: ['eu-west-1'] }],
    kinds,
    stuckAfterHours: 12,
  });
const RDS_ONLY_AUDIT = auditSettings({ 'rds-snapshot': { rpoHours: 24 }, secrets: { rpoHours: 24 } });
const EVERY_KIND_AUDIT = auditSettings({
  'rds-snapshot': { rpoHours: 24 },
  'aurora-cluster-snapshot': { rpoHours: 24 },
  'ebs-snapshot': { rpoHours: 24 },
  ami: { rpoHours: 24 },
});

interface Built {
  readonly bytes: number;
  /** The npm packages (`@aws-sdk/client-ec2`, `zod`) with at least one byte in the bundle. */
  readonly packages: ReadonlySet<string>;
  /** The files of those packages with bytes in the bundle, relative to node_modules. */
  readonly files: readonly string[];
}

function contents(metafile: Metafile): Built {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint);
  if (!output) throw new Error('no entry point output');
  const files = Object.entries(output.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path.split('node_modules/').pop() ?? path)
    .filter((path) => !path.startsWith('lambdas/'));
  const packages = new Set(
    files.map((path) =>
      path
        .split('/')
        .slice(0, path.startsWith('@') ? 2 : 1)
        .join('/'),
    ),
  );
  return { bytes: output.bytes, packages, files };
}

let dir: string;
const built = new Map<string, Built>();
const bundle = (key: string) => {
  const b = built.get(key);
  if (!b) throw new Error(`${key} was not bundled`);
  return b;
};

const VARIANTS: readonly [string, BunkerHandlerName, Record<string, string>][] = [
  ['intake, every kind', 'intake', { BUNKER_KINDS: EVERY_KIND }],
  ['intake, RDS only', 'intake', { BUNKER_KINDS: RDS_ONLY_KINDS }],
  [
    'intake, RDS only with a second Region',
    'intake',
    { BUNKER_KINDS: RDS_ONLY_KINDS, BUNKER_SECOND_REGION: 'eu-central-1' },
  ],
  ['source-agent, RDS only', 'source-agent', { BUNKER_SCOPES: RDS_ONLY_SCOPES }],
  ['pull', 'pull', {}],
  ['pruner, RDS only', 'pruner', { BUNKER_RETENTION: RDS_ONLY_RETENTION, BUNKER_KINDS: RDS_ONLY_KINDS }],
  ['audit, RDS only', 'audit', { BUNKER_AUDIT: RDS_ONLY_AUDIT }],
  ['audit, every kind', 'audit', { BUNKER_AUDIT: EVERY_KIND_AUDIT }],
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bunker-bundling-'));
  await Promise.all(
    VARIANTS.map(async ([key, handler, environment], i) => {
      const result = await build({
        ...handlerBuildOptions(REPO_ROOT, handler, join(dir, String(i), 'index.mjs'), environment),
        // Only what is in the bundle matters here: no source map, no file written.
        sourcemap: false,
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      if (!result.metafile) throw new Error('esbuild returned no metafile');
      built.set(key, contents(result.metafile));
    }),
  );
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a function bundled from its settings', () => {
  it('leaves out the clients of the kinds it does not handle: an RDS-only intake has no EC2 and no KMS client', () => {
    const { packages } = bundle('intake, RDS only');
    expect(packages.has('@aws-sdk/client-rds')).toBe(true);
    expect(packages.has('@aws-sdk/client-dynamodb')).toBe(true);
    expect(packages.has('@aws-sdk/client-sns')).toBe(true);
    expect(packages.has('@aws-sdk/client-ec2')).toBe(false);
    expect(packages.has('@aws-sdk/client-kms')).toBe(false);
  });

  it('keeps every client its settings call for: EC2 with EBS snapshots and AMIs, KMS with a second Region', () => {
    expect(bundle('intake, every kind').packages.has('@aws-sdk/client-ec2')).toBe(true);
    expect(bundle('intake, RDS only with a second Region').packages.has('@aws-sdk/client-kms')).toBe(true);
    expect(bundle('intake, RDS only with a second Region').packages.has('@aws-sdk/client-ec2')).toBe(false);
  });

  it('an RDS-only source agent carries neither the EC2 client nor anything of the vault (DynamoDB, KMS)', () => {
    const { packages } = bundle('source-agent, RDS only');
    expect(packages.has('@aws-sdk/client-rds')).toBe(true);
    expect(packages.has('@aws-sdk/client-ec2')).toBe(false);
    expect(packages.has('@aws-sdk/client-dynamodb')).toBe(false);
    expect(packages.has('@aws-sdk/lib-dynamodb')).toBe(false);
    expect(packages.has('@aws-sdk/client-kms')).toBe(false);
  });

  it("an RDS-only pruner and auditor carry no EC2 client: neither the other kinds' deleters nor their discovery", () => {
    for (const key of ['pruner, RDS only', 'audit, RDS only']) {
      const { packages } = bundle(key);
      expect(packages.has('@aws-sdk/client-rds'), key).toBe(true);
      expect(packages.has('@aws-sdk/client-dynamodb'), key).toBe(true);
      expect(packages.has('@aws-sdk/client-ec2'), key).toBe(false);
    }
    expect(bundle('pruner, RDS only').packages.has('@aws-sdk/client-s3')).toBe(true);
    expect(bundle('audit, RDS only').packages.has('@aws-sdk/client-sns')).toBe(true);
  });

  it('an auditor judging EBS snapshots and AMIs keeps the EC2 client', () => {
    expect(bundle('audit, every kind').packages.has('@aws-sdk/client-ec2')).toBe(true);
    expect(bundle('audit, every kind').packages.has('@aws-sdk/client-rds')).toBe(true);
  });

  it('validates with zod/mini only: neither the full build, nor its JSON Schema code, nor any locale but English', () => {
    for (const [key] of VARIANTS) {
      const zodFiles = bundle(key).files.filter((file) => file.startsWith('zod/'));
      expect(zodFiles.length, key).toBeGreaterThan(0);
      expect(
        zodFiles.filter((file) => /^zod\/v4\/(classic|core\/(json-schema|to-json-schema|compile))/.test(file)),
        key,
      ).toEqual([]);
      expect(
        zodFiles.filter((file) => file.startsWith('zod/v4/locales/')),
        key,
      ).toEqual(['zod/v4/locales/en.js']);
      expect(bundle(key).packages.has('@aws-lambda-powertools/parser'), key).toBe(false);
    }
  });

  it('stays under its size ceiling', () => {
    // Ceilings with room: the heaviest bundle (EC2's whole schema file, 552 KiB, is kept by the SDK's own
    // build) was 1.18 MiB and an RDS-only one 0.6 MiB when written. Crossing one means a client or a library
    // came in that the function does not use, which the per-package checks above may not name.
    const KIB = 1024;
    expect(bundle('intake, every kind').bytes).toBeLessThan(1400 * KIB);
    expect(bundle('intake, RDS only').bytes).toBeLessThan(750 * KIB);
    expect(bundle('source-agent, RDS only').bytes).toBeLessThan(700 * KIB);
    expect(bundle('pull').bytes).toBeLessThan(950 * KIB);
  });
});

describe('a pruner or auditor whose settings need a kind its bundle left out', () => {
  // Unbundled, a seam is read at run time: setting it stands for the define of a bundle built without the kind.
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  const context = { region: 'eu-west-1' };

  it('the pruner refuses at cold start a retention policy for a kind left out, and accepts the kinds kept', () => {
    vi.stubEnv('BUNKER_BUNDLE_EBS_SNAPSHOT', 'omit');
    vi.stubEnv('BUNKER_BUNDLE_AMI', 'omit');
    expect(() => sdkCopyDeleters(context, ['rds-snapshot', 'ami'])).toThrow(
      new SettingsError('retention policies name ami, but this function was bundled without it'),
    );
    const deleters = sdkCopyDeleters(context, ['rds-snapshot']);
    expect(() => deleters['ebs-snapshot'].delete({ targetId: 'snap-0123456789abcdef0', region: 'eu-west-1' })).toThrow(
      "ebs-snapshot is not enabled, so its deleter was left out of this function's bundle",
    );
  });

  it('the auditor refuses at cold start judging a snapshot kind left out, and a left-out kind is never listed', async () => {
    vi.stubEnv('BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT', 'omit');
    vi.stubEnv('BUNKER_BUNDLE_EBS_SNAPSHOT', 'omit');
    expect(
      () => new ReaderRoleDiscovery(context, 'bunker', 'aws', ['rds-snapshot', 'ebs-snapshot', 'secrets']),
    ).toThrow(new SettingsError('the audit settings judge ebs-snapshot, but this function was bundled without it'));
    const discovery = new ReaderRoleDiscovery(context, 'bunker', 'aws', ['rds-snapshot', 'secrets']);
    await expect(discovery.resources('aurora-cluster-snapshot', '222222222222', 'eu-west-1')).rejects.toThrow(
      "aurora-cluster-snapshot is not enabled, so its discovery was left out of this function's bundle",
    );
  });
});

describe('bundleDefines', () => {
  it('omits, for a vault function, each kind its BUNKER_KINDS disables and, without a second Region, the KMS client', () => {
    expect(bundleDefines('completion', { BUNKER_KINDS: RDS_ONLY_KINDS })).toEqual({
      'process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_EBS_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_AMI': '"omit"',
      'process.env.BUNKER_BUNDLE_SECOND_REGION': '"omit"',
    });
    expect(bundleDefines('sweep', { BUNKER_KINDS: EVERY_KIND, BUNKER_SECOND_REGION: 'eu-central-1' })).toEqual({});
  });

  it('omits, for the source agent, each kind absent from its BUNKER_SCOPES', () => {
    expect(bundleDefines('source-agent', { BUNKER_SCOPES: RDS_ONLY_SCOPES })).toEqual({
      'process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_EBS_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_AMI': '"omit"',
    });
  });

  it('omits nothing when the settings are missing, unreadable or unresolved tokens, or the function keeps every kind', () => {
    expect(bundleDefines('intake', {})).toEqual({});
    expect(bundleDefines('intake', { BUNKER_KINDS: '{"rds-snapshot":' })).toEqual({});
    expect(bundleDefines('source-agent', { BUNKER_SCOPES: '${Token[TOKEN.123]}' })).toEqual({});
    expect(bundleDefines('pruner', { BUNKER_KINDS: RDS_ONLY_KINDS })).toEqual({});
    expect(bundleDefines('audit', { BUNKER_KINDS: RDS_ONLY_KINDS })).toEqual({});
    expect(bundleDefines('pruner', { BUNKER_RETENTION: '{"values":{}}' })).toEqual({});
    expect(bundleDefines('audit', { BUNKER_AUDIT: '${Token[TOKEN.7]}' })).toEqual({});
    expect(bundleDefines('pull', { BUNKER_KINDS: RDS_ONLY_KINDS })).toEqual({});
  });

  it('omits, for the pruner, each kind without a copy policy in its BUNKER_RETENTION', () => {
    expect(bundleDefines('pruner', { BUNKER_RETENTION: RDS_ONLY_RETENTION })).toEqual({
      'process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_EBS_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_AMI': '"omit"',
    });
  });

  it('reads the settings the retention and audit constructs write: an RDS and parameters deployment omits the other kinds', () => {
    const config = parseConfig({
      name: 'bunker',
      backup: { account: '111111111111', region: 'eu-west-1' },
      sources: [{ account: '222222222222', name: 'payments', regions: ['eu-west-1'] }],
      artifacts: { rds: { enabled: true }, ssm: { enabled: true } },
      alerts: { emails: ['backup-alerts@example.com'] },
    });
    const omitted = {
      'process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_EBS_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_AMI': '"omit"',
    };

    expect(bundleDefines('pruner', retentionSettingsToEnv(retentionSettings(config)))).toEqual(omitted);
    expect(
      bundleDefines(
        'audit',
        auditSettingsToEnv(auditHandlerSettings(config, 'arn:aws:sns:eu-west-1:111111111111:alerts')),
      ),
    ).toEqual(omitted);
  });

  it('omits, for the auditor, each snapshot kind its BUNKER_AUDIT does not judge', () => {
    expect(bundleDefines('audit', { BUNKER_AUDIT: RDS_ONLY_AUDIT })).toEqual({
      'process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_EBS_SNAPSHOT': '"omit"',
      'process.env.BUNKER_BUNDLE_AMI': '"omit"',
    });
    expect(bundleDefines('audit', { BUNKER_AUDIT: EVERY_KIND_AUDIT })).toEqual({});
  });

  it('targets the Node.js version of the runtime the functions are deployed on', () => {
    expect(BUNKER_RUNTIME.name).toBe('nodejs24.x');
    expect(handlerBuildOptions(REPO_ROOT, 'intake', 'index.mjs').target).toBe('node24');
  });
});
