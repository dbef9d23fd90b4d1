import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BunkerError } from '../../lambdas/core/errors';
import { ConfigError, formatConfigIssues, formatPath, loadConfig, parseConfig } from '../../lib/config/load';
import {
  immutabilitySettings,
  pullSchedules,
  pullSettings,
  sourceSettings,
  vaultRetentionDays,
} from '../../lib/config/runtime';
import { ARTIFACT_KINDS, configJsonSchema, DEFAULT_SCOPE, inactiveSettings } from '../../lib/config/schema';

const repoFile = (name: string) => fileURLToPath(new URL(`../../${name}`, import.meta.url));
const EXAMPLE_FILE = repoFile('bunker.config.example.json');
const SCHEMA_FILE = repoFile('bunker.config.schema.json');

const BACKUP = '111111111111';
const SOURCE_A = '222222222222';
const SOURCE_B = '333333333333';

/** The smallest valid document: every optional section left to its default. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests mutate the document freely to break it
function minimalDocument(): Record<string, any> {
  return {
    backup: { account: BACKUP, region: 'eu-west-1' },
    sources: [
      { account: SOURCE_A, regions: ['eu-west-1'] },
      { account: SOURCE_B, regions: ['eu-west-1', 'eu-central-1'] },
    ],
  };
}

/** The problems `parseConfig` reports, or a failure if it accepts the document. */
function problemsOf(document: unknown): readonly string[] {
  try {
    parseConfig(document);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the document to be rejected, but it was accepted');
}

describe('the example configuration', () => {
  it('loads and enables only the artifacts it lists', () => {
    const config = loadConfig(EXAMPLE_FILE);

    expect(config.name).toBe('bunker');
    expect(config.backup).toEqual({ account: BACKUP, region: 'eu-west-1' });
    expect(config.sources.map((source) => source.account)).toEqual([SOURCE_A, SOURCE_B]);
    expect(config.artifacts.rds.enabled).toBe(true);
    for (const kind of ARTIFACT_KINDS.filter((k) => k !== 'rds')) {
      expect(config.artifacts[kind], kind).toMatchObject({
        enabled: false,
        scope: DEFAULT_SCOPE,
        rpoHours: 24,
        retentionDays: 35,
        minCopies: 1,
      });
    }
  });

  it('points its $schema at the committed JSON Schema file', () => {
    const example = JSON.parse(readFileSync(EXAMPLE_FILE, 'utf8')) as { $schema?: string };

    expect(example.$schema).toBe('./bunker.config.schema.json');
    expect(existsSync(SCHEMA_FILE)).toBe(true);
  });
});

describe('defaults', () => {
  it('applies every default to a document that gives only the backup account and the sources', () => {
    const config = parseConfig(minimalDocument());

    expect(config.name).toBe('bunker');
    // The AWS quotas of each kind (../shared/aws-facts.md): RDS 20, Aurora 5, EBS 20, AMIs 100.
    expect(config.limits).toEqual({
      rdsCopiesInProgress: 20,
      auroraCopiesInProgress: 5,
      ebsCopiesInProgress: 20,
      amiCopiesInProgress: 100,
    });
    expect(config.alerts).toEqual({ emails: [], allowNoEmail: false, trail: 'create' });
    expect(config.sourceAgent).toEqual({
      intermediateRetentionHours: 1,
      intermediateHorizonHours: 336,
      maxIntermediateSnapshots: 20,
    });
    expect(Object.keys(config.artifacts).sort()).toEqual([...ARTIFACT_KINDS].sort());
    // The pulled kinds' own defaults are under 'pulled kinds'.
    for (const kind of ARTIFACT_KINDS.filter((k) => k !== 'dynamodb')) {
      expect(config.artifacts[kind], kind).toEqual({
        enabled: false,
        scope: DEFAULT_SCOPE,
        rpoHours: 24,
        retentionDays: 35,
        minCopies: 1,
      });
    }
  });

  it('fills the unspecified fields of an artifact that is only switched on', () => {
    const document = minimalDocument();
    document.artifacts = { aurora: { enabled: true } };

    const config = parseConfig(document);

    expect(config.artifacts.aurora).toEqual({
      enabled: true,
      scope: DEFAULT_SCOPE,
      rpoHours: 24,
      retentionDays: 35,
      minCopies: 1,
    });
    expect(config.artifacts.rds.enabled).toBe(false);
  });

  it('keeps what the operator wrote over the defaults', () => {
    const document = minimalDocument();
    document.name = 'acme-backup';
    document.limits = { rdsCopiesInProgress: 12 };
    document.artifacts = {
      rds: { enabled: true, scope: { ids: ['orders-db'] }, rpoHours: 6, retentionDays: 90 },
    };

    const config = parseConfig(document);

    expect(config.name).toBe('acme-backup');
    expect(config.limits.rdsCopiesInProgress).toBe(12);
    expect(config.artifacts.rds).toEqual({
      enabled: true,
      scope: { ids: ['orders-db'] },
      rpoHours: 6,
      retentionDays: 90,
      minCopies: 1,
    });
  });
});

describe('validation errors', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each row breaks the document in its own way
  const cases: ReadonlyArray<{ name: string; mutate: (d: Record<string, any>) => void; problem: string }> = [
    {
      name: 'names the key path of a malformed source account',
      mutate: (d) => {
        d.sources[0].account = '22222222222';
      },
      problem: 'sources[0].account: expected a 12-digit AWS account id',
    },
    {
      name: 'asks for the account id as a string when it is a number',
      mutate: (d) => {
        d.sources[0].account = 222222222222;
      },
      problem: 'sources[0].account: expected a 12-digit AWS account id as a string',
    },
    {
      name: 'names a malformed backup account',
      mutate: (d) => {
        d.backup.account = 'acme';
      },
      problem: 'backup.account: expected a 12-digit AWS account id',
    },
    {
      name: 'names a malformed backup Region',
      mutate: (d) => {
        d.backup.region = 'Ireland';
      },
      problem: 'backup.region: expected an AWS Region name such as "eu-west-1"',
    },
    {
      name: 'names a malformed source Region by its index',
      mutate: (d) => {
        d.sources[1].regions = ['eu-west-1', 'EU-CENTRAL-1'];
      },
      problem: 'sources[1].regions[1]: expected an AWS Region name such as "eu-west-1"',
    },
    {
      name: 'rejects an empty list of sources',
      mutate: (d) => {
        d.sources = [];
      },
      problem: 'sources: expected at least one source account',
    },
    {
      name: 'rejects a source without Regions',
      mutate: (d) => {
        d.sources[0].regions = [];
      },
      problem: 'sources[0].regions: expected at least one Region',
    },
    {
      name: 'rejects a misspelt top-level key',
      mutate: (d) => {
        d.artifact = { rds: { enabled: true } };
      },
      problem: 'artifact: unknown key (check its spelling against the schema)',
    },
    {
      name: 'rejects a misspelt key inside an artifact policy',
      mutate: (d) => {
        d.artifacts = { rds: { enabled: true, rpohours: 12 } };
      },
      problem: 'artifacts.rds.rpohours: unknown key (check its spelling against the schema)',
    },
    {
      name: 'rejects an artifact kind it does not know',
      mutate: (d) => {
        d.artifacts = { s3: { enabled: true } };
      },
      problem: 'artifacts.s3: unknown key (check its spelling against the schema)',
    },
    {
      name: 'rejects a scope with neither a tag nor ids',
      mutate: (d) => {
        d.artifacts = { rds: { enabled: true, scope: {} } };
      },
      problem: 'artifacts.rds.scope: expected either { "tag": { "key": ..., "value": ... } } or { "ids": [ ... ] }',
    },
    {
      name: 'rejects a scope with both a tag and ids',
      mutate: (d) => {
        d.artifacts = { rds: { scope: { tag: { key: 'backup', value: 'yes' }, ids: ['orders-db'] } } };
      },
      problem: 'artifacts.rds.scope: expected either { "tag": { "key": ..., "value": ... } } or { "ids": [ ... ] }',
    },
    {
      name: 'rejects a scope with an empty list of ids',
      mutate: (d) => {
        d.artifacts = { rds: { scope: { ids: [] } } };
      },
      problem: 'artifacts.rds.scope.ids: expected at least one resource identifier',
    },
    {
      name: 'rejects a retention of 0 days',
      mutate: (d) => {
        d.artifacts = { rds: { retentionDays: 0 } };
      },
      problem: 'artifacts.rds.retentionDays: expected at least 1 day',
    },
    {
      name: 'rejects a retention of a fraction of days',
      mutate: (d) => {
        d.artifacts = { rds: { retentionDays: 1.5 } };
      },
      problem: 'artifacts.rds.retentionDays: expected a whole number of days',
    },
    {
      name: 'rejects a minimum of 0 copies: the newest copy is always kept',
      mutate: (d) => {
        d.artifacts = { ebs: { minCopies: 0 } };
      },
      problem: "artifacts.ebs.minCopies: expected at least 1: a resource's newest copy is never deleted",
    },
    {
      name: 'rejects a fraction of a copy',
      mutate: (d) => {
        d.artifacts = { secrets: { minCopies: 2.5 } };
      },
      problem: 'artifacts.secrets.minCopies: expected a whole number of copies',
    },
    {
      name: 'rejects an RPO of 0 hours',
      mutate: (d) => {
        d.artifacts = { ebs: { rpoHours: 0 } };
      },
      problem: 'artifacts.ebs.rpoHours: expected a positive number of hours',
    },
    {
      name: 'rejects a source that is the backup account',
      mutate: (d) => {
        d.sources[1].account = BACKUP;
      },
      problem:
        'sources[1].account: expected an account other than the backup account: the backup account cannot be its own source',
    },
    {
      name: 'rejects a source account listed twice, naming the second listing',
      mutate: (d) => {
        d.sources[1].account = SOURCE_A;
      },
      problem: `sources[1].account: expected each source account once; ${SOURCE_A} is listed again`,
    },
    {
      name: 'rejects a Region listed twice for one source',
      mutate: (d) => {
        d.sources[1].regions = ['eu-central-1', 'eu-central-1'];
      },
      problem: 'sources[1].regions: expected each Region once',
    },
    {
      name: 'rejects a malformed alert e-mail address',
      mutate: (d) => {
        d.alerts = { emails: ['ops@example.com', 'ops at example.com'] };
      },
      problem: 'alerts.emails[1]: expected an e-mail address',
    },
    {
      name: 'rejects a copy limit below 1',
      mutate: (d) => {
        d.limits = { rdsCopiesInProgress: 0 };
      },
      problem: 'limits.rdsCopiesInProgress: expected at least 1',
    },
    {
      name: 'rejects a copy limit above 1000',
      mutate: (d) => {
        d.limits = { rdsCopiesInProgress: 1001 };
      },
      problem: 'limits.rdsCopiesInProgress: expected at most 1000',
    },
    {
      name: 'rejects more intermediate snapshots than RDS allows',
      mutate: (d) => {
        d.sourceAgent = { maxIntermediateSnapshots: 91 };
      },
      problem: 'sourceAgent.maxIntermediateSnapshots: expected at most 90 (RDS allows 100 manual snapshots per Region)',
    },
    {
      name: "rejects a restore-time target whose drill could outgrow its execution's history",
      mutate: (d) => {
        d.drills = { restoreTargetMinutes: { rds: 1080 } };
      },
      problem:
        "drills.restoreTargetMinutes.rds: expected at most 1079 minutes (18 hours): a longer drill could outgrow its execution's history",
    },
    {
      name: 'rejects a deployment name that cannot prefix resource names',
      mutate: (d) => {
        d.name = 'Bunker';
      },
      problem: 'name: expected a lower-case name of at most 20 letters, digits or dashes, starting with a letter',
    },
    {
      name: 'rejects a source label that starts with punctuation',
      mutate: (d) => {
        d.sources[0].name = '-payments';
      },
      problem: 'sources[0].name: expected a short label of letters, digits, spaces, dots, dashes or underscores',
    },
  ];

  it.each(cases)('$name', ({ mutate, problem }) => {
    const document = minimalDocument();
    mutate(document);

    expect(problemsOf(document)).toEqual([problem]);
  });

  it('accepts the boundary values next to each rejected limit', () => {
    const document = minimalDocument();
    document.artifacts = {
      rds: { retentionDays: 1, rpoHours: 744 },
      ebs: { retentionDays: 3650, rpoHours: 0.5 },
    };
    document.limits = { rdsCopiesInProgress: 100 };
    document.sourceAgent = { maxIntermediateSnapshots: 90, intermediateRetentionHours: 840 };

    expect(() => parseConfig(document)).not.toThrow();
  });

  it('reports several problems at once, one line each', () => {
    const document = minimalDocument();
    document.sources[0].account = '12';
    document.sources[1].regions = ['eu-west-1', 'eu-west-1'];
    document.alerts = { emails: ['nobody'] };
    document.limits = { rdsCopiesInProgress: 0 };
    document.artifact = {};

    const problems = problemsOf(document);

    expect([...problems].sort()).toEqual(
      [
        'sources[0].account: expected a 12-digit AWS account id',
        'sources[1].regions: expected each Region once',
        'alerts.emails[0]: expected an e-mail address',
        'limits.rdsCopiesInProgress: expected at least 1',
        'artifact: unknown key (check its spelling against the schema)',
      ].sort(),
    );
  });

  it('reports a duplicated source account alongside problems elsewhere in the file', () => {
    const document = minimalDocument();
    document.sources[1].account = SOURCE_A;
    document.alerts = { emails: ['nobody'] };

    expect([...problemsOf(document)].sort()).toEqual(
      [
        'alerts.emails[0]: expected an e-mail address',
        `sources[1].account: expected each source account once; ${SOURCE_A} is listed again`,
      ].sort(),
    );
  });

  it('names the missing required sections', () => {
    expect(problemsOf({})).toEqual([
      'backup: Invalid input: expected object, received undefined',
      'sources: Invalid input: expected array, received undefined',
    ]);
  });

  it('rejects a document that is not an object at the root', () => {
    expect(problemsOf([])).toEqual(['(root): Invalid input: expected object, received array']);
  });

  it('names the file and lists every problem in the error message', () => {
    const document = minimalDocument();
    document.backup.region = 'mars';
    document.limits = { rdsCopiesInProgress: 0 };

    let error: unknown;
    try {
      parseConfig(document, 'prod/bunker.config.json');
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(BunkerError);
    const configError = error as ConfigError;
    expect(configError.name).toBe('ConfigError');
    expect(configError.file).toBe('prod/bunker.config.json');
    expect(configError.message).toBe(
      [
        'Invalid Bunker configuration in prod/bunker.config.json:',
        '  - backup.region: expected an AWS Region name such as "eu-west-1"',
        '  - limits.rdsCopiesInProgress: expected at least 1',
      ].join('\n'),
    );
  });
});

describe('formatPath', () => {
  it.each([
    { path: [], text: '(root)' },
    { path: ['name'], text: 'name' },
    { path: ['sources', 0, 'account'], text: 'sources[0].account' },
    { path: ['sources', 1, 'regions', 2], text: 'sources[1].regions[2]' },
    { path: [0, 'account'], text: '[0].account' },
    { path: ['artifacts', 'rds', 'scope', 'tag', 'key'], text: 'artifacts.rds.scope.tag.key' },
  ])('writes $path as $text', ({ path, text }) => {
    expect(formatPath(path)).toBe(text);
  });
});

describe('formatConfigIssues', () => {
  it("replaces zod's generic union message with a readable one", () => {
    const result = z.object({ port: z.union([z.string(), z.number()]) }).safeParse({ port: true });

    expect(result.success).toBe(false);
    expect(formatConfigIssues(result.error?.issues ?? [])).toEqual(['port: expected one of the allowed shapes']);
  });

  it('writes one line per unknown key', () => {
    const result = z.object({}).strict().safeParse({ one: 1, two: 2 });

    expect(formatConfigIssues(result.error?.issues ?? [])).toEqual([
      'one: unknown key (check its spelling against the schema)',
      'two: unknown key (check its spelling against the schema)',
    ]);
  });
});

describe('loadConfig', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bunker-config-test-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** The ConfigError `loadConfig` throws for a file. */
  function loadError(file: string): ConfigError {
    try {
      loadConfig(file);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error(`expected ${file} to be rejected, but it loaded`);
  }

  it('reads and validates a file', () => {
    const file = join(dir, 'valid.json');
    writeFileSync(file, JSON.stringify(minimalDocument()));

    expect(loadConfig(file).sources).toHaveLength(2);
  });

  it('names a missing file and says how to create one', () => {
    const file = join(dir, 'missing.json');

    const error = loadError(file);

    expect(error.file).toBe(file);
    expect(error.message).toContain(file);
    expect(error.problems).toEqual([
      '(root): file not found; pass --config FILE or create bunker.config.json (see bunker.config.example.json)',
    ]);
  });

  it('names a file that is not JSON', () => {
    const file = join(dir, 'not-json.json');
    writeFileSync(file, 'name = "bunker"\n');

    const error = loadError(file);

    expect(error.file).toBe(file);
    expect(error.message).toContain(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^\(root\): expected JSON \(.+\)$/s);
  });

  it('names a path that cannot be read as a file', () => {
    const path = join(dir, 'a-directory');
    mkdirSync(path);

    const error = loadError(path);

    expect(error.message).toContain(path);
    expect(error.problems).toEqual(['(root): cannot read the file (EISDIR)']);
  });

  it('names the file when its content breaks the schema', () => {
    const file = join(dir, 'bad-account.json');
    const document = minimalDocument();
    document.backup.account = '1';
    writeFileSync(file, JSON.stringify(document));

    const error = loadError(file);

    expect(error.message).toContain(file);
    expect(error.problems).toEqual(['backup.account: expected a 12-digit AWS account id']);
  });
});

describe('the JSON Schema for editors', () => {
  it('is committed as bunker.config.schema.json, regenerated from the zod schema', () => {
    const stale = 'bunker.config.schema.json is missing or out of date with lib/config/schema.ts: run `make schema`';

    expect(existsSync(SCHEMA_FILE), stale).toBe(true);
    expect(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')), stale).toEqual(configJsonSchema());
  });

  it('is a draft 2020-12 schema that closes every object to unknown keys', () => {
    const schema = configJsonSchema() as {
      $schema: string;
      title: string;
      required: string[];
      additionalProperties: boolean;
      properties: { artifacts: { properties: Record<string, unknown>; additionalProperties: boolean } };
    };

    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toBe('Bunker configuration');
    expect(schema.required.sort()).toEqual(['backup', 'sources']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.artifacts.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties.artifacts.properties).sort()).toEqual([...ARTIFACT_KINDS].sort());
  });
});

describe('inactiveSettings', () => {
  it('says nothing of rpoHours and retentionDays, which the auditor and the pruner act on', () => {
    const document = minimalDocument();
    document.artifacts = {
      ebs: { enabled: true, rpoHours: 6 },
      ssm: { enabled: true },
      dynamodb: { enabled: true },
      ami: { enabled: false },
    };
    expect(inactiveSettings(parseConfig(document))).toEqual([]);
  });

  it('says that RDS and Aurora copies have no lock of their own, and what to attach instead', () => {
    const document = minimalDocument();
    document.artifacts = { rds: { enabled: true }, aurora: { enabled: true } };
    expect(inactiveSettings(parseConfig(document))).toEqual([
      'immutability.mode (compliance) for artifacts.rds: RDS and Aurora copies have no lock of their own; attach the service control policy of `bunker scp` to the backup account',
      'immutability.mode (compliance) for artifacts.aurora: RDS and Aurora copies have no lock of their own; attach the service control policy of `bunker scp` to the backup account',
    ]);
  });

  it('says nothing when no kind is enabled', () => {
    expect(inactiveSettings(parseConfig(minimalDocument()))).toEqual([]);
  });
});

describe('the source agent’s settings', () => {
  it('give the agent the RPO of each enabled kind it handles, and no other', () => {
    const document = minimalDocument();
    document.artifacts = {
      rds: { enabled: true, rpoHours: 6 },
      aurora: { enabled: false, rpoHours: 2 },
      ebs: { enabled: true },
      ami: { enabled: true, rpoHours: 0.5 },
      ssm: { enabled: true, rpoHours: 1 },
    };

    const settings = sourceSettings(parseConfig(document), SOURCE_A, 'eu-west-1', 'arn:aws:kms:eu-west-1:x:key/k');

    expect(settings.rpoHours).toEqual({ 'rds-snapshot': 6, 'ebs-snapshot': 24, ami: 0.5 });
  });
});

describe('pulled kinds', () => {
  it('are disabled by default, with the scan and export defaults and no rate, paths or prefixes', () => {
    const config = parseConfig(minimalDocument());

    expect(config.artifacts.ssm).toEqual({
      enabled: false,
      scope: DEFAULT_SCOPE,
      rpoHours: 24,
      retentionDays: 35,
      minCopies: 1,
    });
    expect(config.artifacts.secrets).toEqual({
      enabled: false,
      scope: DEFAULT_SCOPE,
      rpoHours: 24,
      retentionDays: 35,
      minCopies: 1,
    });
    expect(config.artifacts.dynamodb).toEqual({
      enabled: false,
      scope: DEFAULT_SCOPE,
      rpoHours: 24,
      retentionDays: 35,
      minCopies: 1,
      scanReadShare: 0.25,
      scanReadUnitsPerSecond: 100,
      scanSegments: 4,
      fullExportEveryHours: 168,
    });
    expect(pullSettings(config)).toEqual({});
    expect(pullSchedules(config)).toEqual([]);
    expect(vaultRetentionDays(config)).toBeUndefined();
  });

  it('pull every half of rpoHours unless pullEveryMinutes says otherwise, per source account and Region', () => {
    const document = minimalDocument();
    document.artifacts = {
      ssm: { enabled: true, rpoHours: 1 },
      secrets: { enabled: true, rpoHours: 6, pullEveryMinutes: 45 },
      dynamodb: { enabled: true, rpoHours: 168 },
    };

    expect(pullSchedules(parseConfig(document))).toEqual([
      { kind: 'ssm', account: SOURCE_A, region: 'eu-west-1', everyMinutes: 30 },
      { kind: 'ssm', account: SOURCE_B, region: 'eu-west-1', everyMinutes: 30 },
      { kind: 'ssm', account: SOURCE_B, region: 'eu-central-1', everyMinutes: 30 },
      { kind: 'secrets', account: SOURCE_A, region: 'eu-west-1', everyMinutes: 45 },
      { kind: 'secrets', account: SOURCE_B, region: 'eu-west-1', everyMinutes: 45 },
      { kind: 'secrets', account: SOURCE_B, region: 'eu-central-1', everyMinutes: 45 },
      // Half of a week is more than a day: at least daily.
      { kind: 'dynamodb', account: SOURCE_A, region: 'eu-west-1', everyMinutes: 1440 },
      { kind: 'dynamodb', account: SOURCE_B, region: 'eu-west-1', everyMinutes: 1440 },
      { kind: 'dynamodb', account: SOURCE_B, region: 'eu-central-1', everyMinutes: 1440 },
    ]);
  });

  it('never default to pulling more often than the kind allows', () => {
    const document = minimalDocument();
    // Half of 12 minutes is 6: allowed for parameters, too often for tables' 15-minute export windows.
    document.artifacts = { ssm: { enabled: true, rpoHours: 0.2 }, dynamodb: { enabled: true, rpoHours: 0.5 } };

    expect(pullSchedules(parseConfig(document)).map((s) => `${s.kind} ${s.everyMinutes}`)).toEqual([
      'ssm 6',
      'ssm 6',
      'ssm 6',
      'dynamodb 15',
      'dynamodb 15',
      'dynamodb 15',
    ]);
  });

  it('give the pull function the settings of the enabled kinds only', () => {
    const document = minimalDocument();
    document.artifacts = {
      ssm: { enabled: true, paths: ['/app/'] },
      secrets: { enabled: false, namePrefixes: ['prod/'] },
      dynamodb: { enabled: true, scope: { ids: ['orders'] }, scanSegments: 8, scanReadShare: 1 },
    };

    expect(pullSettings(parseConfig(document))).toEqual({
      ssm: { scope: DEFAULT_SCOPE, paths: ['/app/'] },
      dynamodb: {
        scope: { ids: ['orders'] },
        scanReadShare: 1,
        scanReadUnitsPerSecond: 100,
        scanSegments: 8,
        fullExportEveryHours: 168,
      },
    });
  });

  it('lock the vault for the longest retentionDays of the enabled pulled kinds', () => {
    const document = minimalDocument();
    document.artifacts = {
      rds: { enabled: true, retentionDays: 3000 },
      ssm: { enabled: true, retentionDays: 30 },
      secrets: { enabled: true, retentionDays: 365 },
      dynamodb: { enabled: false, retentionDays: 3650 },
    };

    expect(vaultRetentionDays(parseConfig(document))).toBe(365);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each row breaks the document in its own way
  const rejected: ReadonlyArray<{ name: string; artifacts: Record<string, any>; problem: string }> = [
    {
      name: 'a pull rate under 5 minutes',
      artifacts: { ssm: { pullEveryMinutes: 4 } },
      problem: 'artifacts.ssm.pullEveryMinutes: expected at least 5 minutes',
    },
    {
      name: 'a table pull rate under the 15-minute export window',
      artifacts: { dynamodb: { pullEveryMinutes: 14 } },
      problem:
        'artifacts.dynamodb.pullEveryMinutes: expected at least 15 minutes: incremental exports cover at least 15 minutes',
    },
    {
      name: 'a pull rate over a day',
      artifacts: { secrets: { pullEveryMinutes: 1441 } },
      problem: 'artifacts.secrets.pullEveryMinutes: expected at most 1440 minutes (a day)',
    },
    {
      name: 'a pull rate that is not a whole number',
      artifacts: { secrets: { pullEveryMinutes: 7.5 } },
      problem: 'artifacts.secrets.pullEveryMinutes: expected a whole number of minutes',
    },
    {
      name: 'a pull rate slower than the RPO of an enabled kind',
      artifacts: { ssm: { enabled: true, rpoHours: 1, pullEveryMinutes: 90 } },
      problem:
        'artifacts.ssm.pullEveryMinutes: expected a pull at least once per rpoHours (60 minutes), but ssm is pulled every 90 minutes',
    },
    {
      name: 'an RPO shorter than tables can be pulled',
      artifacts: { dynamodb: { enabled: true, rpoHours: 0.2 } },
      problem:
        'artifacts.dynamodb.rpoHours: expected a pull at least once per rpoHours (12 minutes), but dynamodb is pulled every 15 minutes',
    },
    {
      name: 'a parameter path without a leading slash',
      artifacts: { ssm: { paths: ['app/'] } },
      problem: 'artifacts.ssm.paths[0]: expected a parameter path prefix starting with "/"',
    },
    {
      name: 'an empty list of paths',
      artifacts: { ssm: { paths: [] } },
      problem: 'artifacts.ssm.paths: expected at least one parameter path prefix, or no key at all',
    },
    {
      name: 'a secret name prefix listed twice',
      artifacts: { secrets: { namePrefixes: ['prod/', 'prod/'] } },
      problem: 'artifacts.secrets.namePrefixes: expected each secret name prefix once',
    },
    {
      name: 'a scan read share of 0',
      artifacts: { dynamodb: { scanReadShare: 0 } },
      problem: 'artifacts.dynamodb.scanReadShare: expected a share greater than 0',
    },
    {
      name: 'a scan read share over 1',
      artifacts: { dynamodb: { scanReadShare: 1.5 } },
      problem: 'artifacts.dynamodb.scanReadShare: expected a share of at most 1',
    },
    {
      name: 'more than 64 scan segments',
      artifacts: { dynamodb: { scanSegments: 65 } },
      problem: 'artifacts.dynamodb.scanSegments: expected at most 64 segments',
    },
    {
      name: 'no scan segment',
      artifacts: { dynamodb: { scanSegments: 0 } },
      problem: 'artifacts.dynamodb.scanSegments: expected at least 1 segment',
    },
    {
      name: 'zero read units per second',
      artifacts: { dynamodb: { scanReadUnitsPerSecond: 0 } },
      problem: 'artifacts.dynamodb.scanReadUnitsPerSecond: expected at least 1 read unit per second',
    },
    {
      name: 'a full export less often than yearly',
      artifacts: { dynamodb: { fullExportEveryHours: 8785 } },
      problem: 'artifacts.dynamodb.fullExportEveryHours: expected at most 8784 hours (a year)',
    },
    {
      name: 'a setting of another pulled kind',
      artifacts: { secrets: { paths: ['/app/'] } },
      problem: 'artifacts.secrets.paths: unknown key (check its spelling against the schema)',
    },
    {
      name: 'a pulled setting on a snapshot kind',
      artifacts: { rds: { pullEveryMinutes: 30 } },
      problem: 'artifacts.rds.pullEveryMinutes: unknown key (check its spelling against the schema)',
    },
  ];

  it.each(rejected)('reject $name', ({ artifacts, problem }) => {
    const document = minimalDocument();
    document.artifacts = artifacts;

    expect(problemsOf(document)).toEqual([problem]);
  });

  it('accept the boundary values next to each rejected limit', () => {
    const document = minimalDocument();
    document.artifacts = {
      ssm: { enabled: true, pullEveryMinutes: 5, rpoHours: 744, paths: ['/'] },
      secrets: { enabled: true, pullEveryMinutes: 1440, namePrefixes: ['p'] },
      dynamodb: {
        enabled: true,
        pullEveryMinutes: 15,
        rpoHours: 0.25,
        scanReadShare: 1,
        scanSegments: 64,
        scanReadUnitsPerSecond: 1,
        fullExportEveryHours: 8784,
      },
    };

    expect(() => parseConfig(document)).not.toThrow();
    // A disabled kind's rate is not held to its RPO: it is not pulled.
    document.artifacts = { ssm: { enabled: false, rpoHours: 1, pullEveryMinutes: 90 } };
    expect(() => parseConfig(document)).not.toThrow();
  });
});

describe('immutability', () => {
  it('defaults to compliance locks with a 24-hour cool-off and a week in a Recycle Bin locked for a week', () => {
    expect(parseConfig(minimalDocument()).immutability).toEqual({
      mode: 'compliance',
      coolOffHours: 24,
      recycleBinDays: 7,
      recycleBinUnlockDelayDays: 7,
    });
  });

  it('names the key path of a mode, cool-off or unlock delay AWS would refuse', () => {
    const document = minimalDocument();
    document.immutability = { mode: 'legal-hold', coolOffHours: 73, recycleBinUnlockDelayDays: 31 };

    let problems: readonly string[] = [];
    try {
      parseConfig(document);
    } catch (error) {
      problems = (error as ConfigError).problems;
    }

    expect(problems).toEqual([
      'immutability.mode: expected "governance" or "compliance"',
      'immutability.coolOffHours: expected at most 72 hours (the EBS snapshot lock maximum)',
      'immutability.recycleBinUnlockDelayDays: expected at most 30 days (the Recycle Bin maximum)',
    ]);
  });

  it('reaches the vault Lambdas with each enabled lockable kind’s retention as its lock', () => {
    const document = minimalDocument();
    document.artifacts = { ebs: { enabled: true, retentionDays: 14 }, ami: { enabled: true }, rds: { enabled: true } };
    document.immutability = { mode: 'governance' };

    expect(immutabilitySettings(parseConfig(document))).toEqual({
      mode: 'governance',
      coolOffHours: 24,
      lockDays: { 'ebs-snapshot': 14, ami: 35 },
    });
  });
});
