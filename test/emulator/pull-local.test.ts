/**
 * Pulled backups end to end through the local mode and the restore CLI, on
 * fresh accounts: the demo's parameters, secrets and tables seeded in a
 * source account, `localRun` handing the pull queue to the real pull
 * handler, and `bunker restore` run as a child process the way an operator
 * runs it. What lands in the vault, the inventory and the target account is
 * read with boto3 or plain SDK calls, never through Bunker's adapters.
 *
 * The table with point-in-time recovery is exported, so its cases rely on
 * Bunker's launcher (tools/moto/bunker_moto.py) writing export files.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { HeadObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEMO_CANARIES, seedPulled } from '../../cli/demo-pulled';
import { type LocalRunSummary, localRun } from '../../cli/local/run';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { vaultBucketName, vaultNames } from '../../lambdas/core/names';
import type { Log } from '../../lambdas/core/ports';
import type { PullRunSummary } from '../../lambdas/core/pull/types';
import { parseConfig } from '../../lib/config/load';
import type { BunkerConfig, BunkerConfigInput } from '../../lib/config/schema';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { type CliResult, describeRun, runBunker } from './support/cli';

const endpoint = emulatorEndpoint();
const REGION = 'eu-west-1';
const SCOPE = { tag: { key: 'bunker:backup', value: 'true' } };

/** The demo's parameters in scope: tagged and under /payments/ (not /payments/scratch, untagged, nor /analytics/token). */
const PARAMETERS_IN_SCOPE = [
  '/payments/db/host',
  '/payments/db/password',
  '/payments/feature-flags',
  '/payments/limits/tier-1',
  '/payments/limits/tier-10',
  '/payments/limits/tier-11',
  '/payments/limits/tier-12',
  '/payments/limits/tier-2',
  '/payments/limits/tier-3',
  '/payments/limits/tier-4',
  '/payments/limits/tier-5',
  '/payments/limits/tier-6',
  '/payments/limits/tier-7',
  '/payments/limits/tier-8',
  '/payments/limits/tier-9',
  '/payments/queue-arn',
];

const backup = freshAccountId();
const source = freshAccountId();
const target = freshAccountId();
const intruder = freshAccountId();

const input: BunkerConfigInput = {
  name: 'bunker',
  backup: { account: backup, region: REGION },
  sources: [{ account: source, name: 'payments', regions: [REGION] }],
  artifacts: {
    ssm: { enabled: true, scope: SCOPE, paths: ['/payments/'] },
    secrets: { enabled: true, scope: SCOPE, namePrefixes: ['payments/'] },
    dynamodb: { enabled: true, scope: SCOPE },
  },
};
const config: BunkerConfig = parseConfig(input);
const names = vaultNames(config.name);
const bucket = vaultBucketName(config.name, backup, REGION);

const dir = mkdtempSync(join(tmpdir(), 'bunker-pull-local-'));
const configFile = join(dir, 'bunker.config.json');
writeFileSync(configFile, JSON.stringify(input, null, 2));

/** Every log line of every local run (message and fields, JSON), every progress line, and every CLI output. */
const logLines: string[] = [];
const progressLines: string[] = [];
const cliOutputs: string[] = [];
const log: Log = {
  info: (message, fields) => logLines.push(JSON.stringify({ level: 'info', message, fields })),
  warn: (message, fields) => logLines.push(JSON.stringify({ level: 'warn', message, fields })),
  error: (message, fields) => logLines.push(JSON.stringify({ level: 'error', message, fields })),
};
/** What the process printed during the local runs (a library that logs on its own would show here). */
const processOutput: string[] = [];
const capture = (chunk: unknown) => {
  processOutput.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
  return true;
};
async function run(pullNow: boolean): Promise<LocalRunSummary> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    return await localRun(config, endpoint, { pullNow, log, progress: (line) => progressLines.push(line) });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
const bunker = async (args: string[]): Promise<CliResult> => {
  const result = await runBunker(args);
  cliOutputs.push(result.stdout, result.stderr);
  return result;
};
const restoreArgs = (kind: string, ...more: string[]) => [
  'restore',
  kind,
  '--account',
  source,
  '--region',
  REGION,
  '--to-account',
  target,
  '--endpoint',
  endpoint,
  '--config',
  configFile,
  ...more,
];

const s3 = new S3Client({ ...clientConfig(endpoint, backup, REGION), forcePathStyle: true });
afterAll(() => {
  s3.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** Every object version in the vault bucket under `prefix`, read with ListObjectVersions. */
async function versionsUnder(prefix: string): Promise<{ key: string; versionId: string }[]> {
  const versions: { key: string; versionId: string }[] = [];
  // The SDK has no paginator for ListObjectVersions: its pages chain by two markers.
  let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
  for (;;) {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, ...markers }));
    for (const v of page.Versions ?? []) versions.push({ key: v.Key ?? '', versionId: v.VersionId ?? '' });
    if (!page.IsTruncated) return versions;
    markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
  }
}

interface RawItem {
  readonly [attribute: string]: Record<string, unknown>;
}

/** The inventory table, every item as DynamoDB returns it, read with boto3. */
function rawInventory(): Promise<RawItem[]> {
  return boto3<RawItem[]>(
    endpoint,
    backup,
    `
items = []
for page in client('dynamodb').get_paginator('scan').paginate(TableName=ARGS['table']):
    items.extend(page['Items'])
out(items)
`,
    { table: names.inventoryTable },
  );
}

/** Parameters under /payments/ (decrypted) and the named secrets' current values of an account, read with boto3. */
function valuesIn(account: string): Promise<{
  parameters: Record<string, { type: string; value: string }>;
  secrets: Record<string, { string?: string; binary?: string } | null>;
}> {
  return boto3(
    endpoint,
    account,
    `
parameters = {}
for page in client('ssm').get_paginator('get_parameters_by_path').paginate(Path='/', Recursive=True, WithDecryption=True):
    for p in page['Parameters']:
        parameters[p['Name']] = {'type': p['Type'], 'value': p['Value']}
sm = client('secretsmanager')
secrets = {}
for name in ARGS['secrets']:
    try:
        v = sm.get_secret_value(SecretId=name)
        secrets[name] = {'string': v['SecretString']} if 'SecretString' in v else {'binary': v['SecretBinary']}
    except sm.exceptions.ResourceNotFoundException:
        secrets[name] = None
out({'parameters': parameters, 'secrets': secrets})
`,
    { secrets: ['payments/api-key', 'payments/signing-key', 'payments/untagged'] },
    REGION,
  );
}

/** The pull runs in a fixed order (the handler takes a batch in parallel): by kind, a continued run first. */
const byKind = (pulls: readonly PullRunSummary[]) =>
  pulls
    .map((p) => ({
      kind: p.kind,
      account: p.account,
      inScope: p.inScope,
      changed: p.changed,
      failed: p.failed,
      continued: p.continued,
    }))
    .sort((a, b) => a.kind.localeCompare(b.kind) || Number(b.continued) - Number(a.continued));

let env: LocalEnvironment;
let first: LocalRunSummary;
/** A time before anything was seeded, so before the first pull. */
let beforeSeeding: string;

beforeAll(async () => {
  env = await localUp(config, endpoint);
  beforeSeeding = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await seedPulled(config, endpoint, (line) => progressLines.push(line));
  first = await run(true);
}, 60_000);

describe('pulled backups through the local mode and the restore CLI', () => {
  it('localRun --pull-now pulls every kind once, records each resource and writes SSE-KMS objects (launcher: DynamoDB exports)', async () => {
    // Tables: the run dumps the table without recovery by scan and starts the other's export; its continuation
    // copies the finished export.
    expect(byKind(first.pulls)).toEqual([
      { kind: 'dynamodb', account: source, inScope: 2, changed: 1, failed: 0, continued: true },
      { kind: 'dynamodb', account: source, inScope: 2, changed: 1, failed: 0, continued: false },
      { kind: 'secrets', account: source, inScope: 2, changed: 2, failed: 0, continued: false },
      { kind: 'ssm', account: source, inScope: 16, changed: 16, failed: 0, continued: false },
    ]);
    expect(
      first.pulls
        .filter((p) => p.kind !== 'dynamodb')
        .map((p) => [p.kind, p.dataWrites])
        .sort(),
    ).toEqual([
      ['secrets', 3],
      ['ssm', 16],
    ]);

    const items = await rawInventory();
    const recorded = (kind: string) =>
      items
        .filter((item) => item.kind?.S === kind)
        .map((item) => [item.sourceId?.S, item.sourceAccount?.S, item.state?.S])
        .sort();
    expect(recorded('ssm-parameter')).toEqual(PARAMETERS_IN_SCOPE.map((name) => [name, source, 'held']).sort());
    expect(recorded('secret')).toEqual([
      ['payments/api-key', source, 'held'],
      ['payments/signing-key', source, 'held'],
    ]);
    expect(recorded('dynamodb-table')).toEqual([
      ['payments-orders', source, 'held'],
      ['payments-sessions', source, 'held'],
    ]);
    expect(
      items
        .filter((item) => item.kind?.S === 'pull-run')
        .map((item) => item.artifactId?.S)
        .sort(),
    ).toEqual([
      `pull-run:dynamodb:${source}:eu-west-1`,
      `pull-run:secrets:${source}:eu-west-1`,
      `pull-run:ssm:${source}:eu-west-1`,
    ]);

    const kms = new KMSClient(clientConfig(endpoint, backup, REGION));
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/bunker-backup-data' }));
    kms.destroy();
    expect(KeyMetadata?.Arn).toBe(env.backupKeyArn);
    // One object per parameter version; the api key's two versions and the signing key's one.
    const ssmObjects = await versionsUnder('ssm/');
    const secretObjects = await versionsUnder('secrets/');
    const tableObjects = await versionsUnder('dynamodb/');
    expect(ssmObjects).toHaveLength(16);
    expect(secretObjects).toHaveLength(3);
    expect(tableObjects.filter((o) => o.key.endsWith('/manifest.json')).map((o) => o.key.split('/')[3])).toEqual([
      'payments-orders',
      'payments-sessions',
    ]);
    for (const object of [...ssmObjects, ...secretObjects, ...tableObjects]) {
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: bucket, Key: object.key, VersionId: object.versionId }),
      );
      expect([object.key, head.ServerSideEncryption, head.SSEKMSKeyId]).toEqual([
        object.key,
        'aws:kms',
        KeyMetadata?.Arn,
      ]);
    }
  });

  it('a second run pulls nothing when nothing is due; with pullNow values are unchanged and no object is written', async () => {
    const ssmBefore = await versionsUnder('ssm/');
    const secretsBefore = await versionsUnder('secrets/');

    const notDue = await run(false);

    expect(notDue.pulls).toEqual([]);

    const again = await run(true);

    const values = again.pulls.filter((p) => p.kind !== 'dynamodb');
    expect(
      values.map((p) => [p.kind, p.inScope, p.changed, p.unchanged, p.dataWrites, p.nothingChanged]).sort(),
    ).toEqual([
      ['secrets', 2, 0, 2, 0, true],
      ['ssm', 16, 0, 16, 0, true],
    ]);
    const tables = again.pulls.filter((p) => p.kind === 'dynamodb');
    expect(tables.length).toBeGreaterThanOrEqual(1);
    expect(tables.map((p) => [p.inScope, p.failed, p.breaches])).toEqual(tables.map(() => [2, 0, []]));
    expect((await versionsUnder('ssm/')).length).toBe(ssmBefore.length);
    expect((await versionsUnder('secrets/')).length).toBe(secretsBefore.length);
    expect(ssmBefore).toHaveLength(16);
    expect(secretsBefore).toHaveLength(3);
  });

  it('`restore ssm` and `restore secrets` write the values into the target with the rewrite applied', async () => {
    const [ssm, secrets] = await Promise.all([
      bunker(restoreArgs('ssm', '--rewrite', `${source}=${target}`)),
      bunker(restoreArgs('secrets', '--rewrite', `${source}=${target}`)),
    ]);

    expect(ssm.code, describeRun(ssm)).toBe(0);
    expect(ssm.stdout).toContain(
      'Restored: 16 of 16 parameter(s) written; checksum equal for 16, different for 0, failed 0.',
    );
    expect(secrets.code, describeRun(secrets)).toBe(0);
    expect(secrets.stdout).toContain(
      'Restored: 2 of 2 secret(s) written; checksum equal for 2, different for 0, failed 0.',
    );
    const [from, to] = await Promise.all([valuesIn(source), valuesIn(target)]);
    expect(to.parameters['/payments/db/host']).toEqual({
      type: 'String',
      value: `payments-db.${target}.eu-west-1.rds.amazonaws.com`,
    });
    expect(to.parameters['/payments/queue-arn']).toEqual({
      type: 'String',
      value: `arn:aws:sqs:eu-west-1:${target}:payments-events`,
    });
    expect(to.parameters['/payments/db/password']).toEqual({ type: 'SecureString', value: DEMO_CANARIES.dbPassword });
    expect(to.parameters['/payments/feature-flags']).toEqual({
      type: 'StringList',
      value: 'ledger-v2,instant-refunds',
    });
    expect(Object.keys(to.parameters).sort()).toEqual(PARAMETERS_IN_SCOPE);
    const rewritten = Object.fromEntries(
      Object.entries(from.parameters)
        .filter(([name]) => PARAMETERS_IN_SCOPE.includes(name))
        .map(([name, p]) => [name, { ...p, value: p.value.replaceAll(source, target) }]),
    );
    expect(to.parameters).toEqual(rewritten);
    expect(to.secrets).toEqual({
      'payments/api-key': { string: DEMO_CANARIES.apiKey },
      // [0, 1, 2, 250, 251, 252, 253, 254, 255] in base64.
      'payments/signing-key': { binary: 'AAEC+vv8/f7/' },
      'payments/untagged': null,
    });
    expect(from.secrets['payments/signing-key']).toEqual({ binary: 'AAEC+vv8/f7/' });
  });

  it('`restore dynamodb` makes the table with its keys, indexes, billing mode and items (launcher: DynamoDB exports)', async () => {
    const result = await bunker(restoreArgs('dynamodb', '--table', 'payments-orders', '--to-table', 'orders-restored'));

    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/^Restored: 300 of 300 item\(s\) from \d+ dump\(s\) as of .+; checksum equal\.$/m);
    const described = await boto3<{
      table: Record<string, unknown>;
      count: number;
      restored: string[];
    }>(
      endpoint,
      target,
      `
ddb = client('dynamodb')
t = ddb.describe_table(TableName='orders-restored')['Table']
def items(name):
    found = []
    for page in ddb.get_paginator('scan').paginate(TableName=name):
        found.extend(json.dumps(i, sort_keys=True) for i in page['Items'])
    return sorted(found)
restored = items('orders-restored')
out({
    'table': {
        'KeySchema': t['KeySchema'],
        'LocalSecondaryIndexes': [{k: i[k] for k in ('IndexName', 'KeySchema', 'Projection')} for i in t.get('LocalSecondaryIndexes', [])],
        'GlobalSecondaryIndexes': [{k: i[k] for k in ('IndexName', 'KeySchema', 'Projection')} for i in t.get('GlobalSecondaryIndexes', [])],
        'BillingMode': t.get('BillingModeSummary', {}).get('BillingMode', 'PROVISIONED'),
        'ReadCapacityUnits': t['ProvisionedThroughput']['ReadCapacityUnits'],
        'WriteCapacityUnits': t['ProvisionedThroughput']['WriteCapacityUnits'],
    },
    'count': len(restored),
    'restored': restored,
})
`,
      {},
      REGION,
    );
    const original = await boto3<string[]>(
      endpoint,
      source,
      `
found = []
for page in client('dynamodb').get_paginator('scan').paginate(TableName='payments-orders'):
    found.extend(json.dumps(i, sort_keys=True) for i in page['Items'])
out(sorted(found))
`,
      {},
      REGION,
    );
    expect(described.table).toEqual({
      KeySchema: [
        { AttributeName: 'customerId', KeyType: 'HASH' },
        { AttributeName: 'orderId', KeyType: 'RANGE' },
      ],
      LocalSecondaryIndexes: [
        {
          IndexName: 'by-placed-at',
          KeySchema: [
            { AttributeName: 'customerId', KeyType: 'HASH' },
            { AttributeName: 'placedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-status',
          KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['totalCents'] },
        },
      ],
      BillingMode: 'PROVISIONED',
      ReadCapacityUnits: 20,
      WriteCapacityUnits: 20,
    });
    expect(described.count).toBe(300);
    expect(original).toHaveLength(300);
    expect(described.restored).toEqual(original);
  });

  it('`restore ssm --at` a time before the first pull exits 1 and says nothing matched', async () => {
    const result = await bunker(restoreArgs('ssm', '--at', beforeSeeding));

    expect(result.code, describeRun(result)).toBe(1);
    expect(result.stdout).toContain('Nothing to restore: the vault holds no parameter matching these options.');
    expect(result.stdout).toContain('Restored: 0 of 0 parameter(s) written');
  });

  it('a restore with a malformed --to-account exits 1 with the option parser message and writes nothing', async () => {
    const args = restoreArgs('secrets');
    args[args.indexOf(target)] = '12345';

    const result = await bunker(args);

    expect(result.code, describeRun(result)).toBe(1);
    expect(result.stderr).toContain(
      "error: option '--to-account <id>' argument '12345' is invalid. expected a 12-digit account id",
    );
    expect(result.stdout).toBe('');
  });

  it('`bunker report --html` writes one page with a freshness chart per kind pulled, and no value', async () => {
    const page = join(dir, 'report.html');
    const result = await bunker(['report', '--html', page, '--endpoint', endpoint, '--config', configFile]);
    expect(result.code, describeRun(result)).toBe(0);
    // 20 pulled resources, each audited against its kind's RPO.
    expect(result.stdout).toMatch(
      /^Wrote .*report\.html: 0 copy record\(s\), 20 pulled resource\(s\), 20 audited resource\(s\)\./,
    );
    const html = readFileSync(page, 'utf8');
    for (const kind of ['ssm-parameter', 'secret', 'dynamodb-table']) {
      expect(html).toContain(`<figure data-account="${source}" data-kind="${kind}">`);
    }
    expect(html).toContain(`<tr class="ok" data-account="${source}" data-kind="ssm-parameter">`);
    cliOutputs.push(html);
  });

  it('a pull job queued for an unregistered account is rejected and logged, and nothing of that account is pulled', async () => {
    // Something the pull would take, if it ran for the intruder.
    const ssm = new SSMClient(clientConfig(endpoint, intruder, REGION));
    await ssm.send(
      new PutParameterCommand({
        Name: '/payments/db/host',
        Type: 'String',
        Value: 'intruder',
        Tags: [{ Key: 'bunker:backup', Value: 'true' }],
      }),
    );
    ssm.destroy();
    // Whoever can write to the backup account's pull queue, as an attacker with that access would.
    const sqs = new SQSClient(clientConfig(endpoint, backup, REGION));
    const queueUrl = env.pull?.queueUrl ?? '';
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({ kind: 'ssm', account: intruder, region: REGION }),
      }),
    );
    const logged = logLines.length;

    // Nothing is due: the queue is handed to the pull handler all the same, as the event source mapping would.
    const summary = await run(false);

    expect(summary.pulls).toEqual([]);
    const rejections = logLines
      .slice(logged)
      .map((line) => JSON.parse(line) as { level: string; message: string; fields: { problems?: string[] } })
      .filter((line) => line.message === 'pull job rejected');
    expect(rejections.map((line) => [line.level, line.fields.problems])).toEqual([
      ['error', [`${intruder} eu-west-1 is not a registered source account and Region`]],
    ]);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    sqs.destroy();
    expect([Attributes?.ApproximateNumberOfMessages, Attributes?.ApproximateNumberOfMessagesNotVisible]).toEqual([
      '0',
      '0',
    ]);
    const items = await rawInventory();
    expect(items.length).toBeGreaterThan(0);
    expect(items.filter((item) => JSON.stringify(item).includes(intruder))).toEqual([]);
    expect(await versionsUnder(`ssm/${intruder}/`)).toEqual([]);
  });

  it('no canary value appears in a log line, a progress line, the CLI output or the inventory; the source holds it', async () => {
    const canaries = Object.values(DEMO_CANARIES);
    const items = await rawInventory();
    const { parameters, secrets } = await valuesIn(source);

    // Controls: the values are there to leak, and the places searched are not empty.
    expect(parameters['/payments/db/password']).toEqual({ type: 'SecureString', value: DEMO_CANARIES.dbPassword });
    expect(secrets['payments/api-key']).toEqual({ string: DEMO_CANARIES.apiKey });
    expect(logLines.some((line) => line.includes('"pull finished"'))).toBe(true);
    expect(progressLines.some((line) => line.startsWith('pull ssm '))).toBe(true);
    expect(cliOutputs.join('\n')).toContain('/payments/db/password');
    expect(items.length).toBeGreaterThanOrEqual(20);
    for (const [where, lines] of [
      ['log', logLines],
      ['progress', progressLines],
      ['CLI output', cliOutputs],
      ['process output', processOutput],
      ['inventory', items.map((item) => JSON.stringify(item))],
    ] as const) {
      const leaks = lines.filter((line) => canaries.some((canary) => line.includes(canary)));
      expect(leaks, `a canary in the ${where}`).toEqual([]);
    }
  });
});
