/**
 * Pulled SSM parameters and secrets end to end on the emulator, through the
 * real adapters: parameters and secrets in a fresh source account, read with
 * the puller role's credentials; the vault bucket (Object Lock, SSE-KMS) and
 * the inventory table in a fresh backup account; restores into a fresh
 * target account with its own credentials. What Bunker wrote is checked
 * with SDK calls that do not go through its adapters (ListObjectVersions,
 * a raw table Scan, GetParameter, GetSecretValue).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { clientConfig as sdkConfig } from '../../lambdas/adapters/aws-context';
import { powertoolsLog } from '../../lambdas/adapters/log';
import { secretsSourceFor } from '../../lambdas/adapters/pull/secrets-source';
import { ssmSourceFor } from '../../lambdas/adapters/pull/ssm-source';
import { SecretsValueTarget, SsmValueTarget } from '../../lambdas/adapters/pull/value-targets';
import { sourceNames } from '../../lambdas/core/names';
import type { Log } from '../../lambdas/core/ports';
import { systemClock } from '../../lambdas/core/ports';
import { loadFingerprint } from '../../lambdas/core/pull/fingerprint';
import { parseRewrites } from '../../lambdas/core/pull/restore/rewrite';
import { restoreValues, type ValueRestoreRequest, type ValueTarget } from '../../lambdas/core/pull/restore/values';
import { runPull } from '../../lambdas/core/pull/run';
import type { PulledConfigKey, PullRunSummary, PullSettings } from '../../lambdas/core/pull/types';
import { freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { createPullVault, PULL_PREFIX, type PullVault } from './support/pull';

const endpoint = emulatorEndpoint();
const REGION = 'eu-west-1';
const TAG = { Key: 'backup', Value: 'bunker' };
const SETTINGS: PullSettings = {
  ssm: { scope: { tag: { key: 'backup', value: 'bunker' } }, paths: ['/app/'] },
  secrets: { scope: { tag: { key: 'backup', value: 'bunker' } }, namePrefixes: ['prod/'] },
};

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const destroy of cleanup.splice(0)) destroy();
});
afterEach(() => vi.restoreAllMocks());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One source account with its SDK clients (acting as the account itself, to make and change things). */
interface World {
  readonly source: string;
  readonly vault: PullVault;
  readonly ssm: SSMClient;
  readonly secrets: SecretsManagerClient;
  /** Every line the core logged, and everything written to stdout and stderr meanwhile (Powertools). */
  readonly lines: string[];
  readonly log: Log;
  pull(kind: PulledConfigKey): Promise<PullRunSummary>;
  restore(
    request: Omit<ValueRestoreRequest, 'account' | 'region'>,
    target: ValueTarget,
  ): ReturnType<typeof restoreValues>;
}

async function world(): Promise<World> {
  const source = freshAccountId();
  const vault = await createPullVault(endpoint, freshAccountId(), REGION);
  const own = await localContext(endpoint, source, REGION, TEST_ROLE_NAME);
  // The pull reads through the source account's puller role, as in AWS.
  const puller = await localContext(endpoint, source, REGION, sourceNames(PULL_PREFIX, REGION).pullerRole);
  const ssm = new SSMClient(sdkConfig(own));
  const secrets = new SecretsManagerClient(sdkConfig(own));
  cleanup.push(
    () => vault.destroy(),
    () => ssm.destroy(),
    () => secrets.destroy(),
  );
  const lines: string[] = [];
  const logger = powertoolsLog(new Logger({ serviceName: 'bunker-pull-test' }));
  const recorded = (level: 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    logger[level](message, fields);
  };
  const log: Log = { info: recorded('info'), warn: recorded('warn'), error: recorded('error') };
  const ssmSource = ssmSourceFor(puller);
  const secretsSource = secretsSourceFor(puller);
  const capture = (chunk: unknown) => {
    lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  /** Runs `work` with stdout and stderr captured into `lines`. */
  const captured = async <T>(work: () => Promise<T>): Promise<T> => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      return await work();
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  };
  return {
    source,
    vault,
    ssm,
    secrets,
    lines,
    log,
    pull: (kind) =>
      captured(async () =>
        runPull(
          {
            job: { kind, account: source, region: REGION },
            store: vault.store,
            records: vault.records,
            fingerprint: await loadFingerprint(vault.store),
            clock: systemClock,
            log,
            deadline: Date.now() + 600_000,
            continueLater: async () => {
              throw new Error('a run this small never continues');
            },
          },
          SETTINGS,
          { ssm: ssmSource, secrets: secretsSource },
        ),
      ),
    restore: (request, target) =>
      captured(async () =>
        restoreValues(
          {
            store: vault.store,
            records: vault.records,
            fingerprint: await loadFingerprint(vault.store),
            target,
            progress: (p) => log.info('restore progress', { ...p }),
          },
          { ...request, account: source, region: REGION },
        ),
      ),
  };
}

async function putParameter(w: World, name: string, value: string, type = 'String', tagged = true, overwrite = false) {
  await w.ssm.send(
    new PutParameterCommand({
      Name: name,
      Value: value,
      Type: type as 'String',
      ...(overwrite ? { Overwrite: true } : tagged ? { Tags: [TAG] } : {}),
    }),
  );
}

async function createSecret(w: World, name: string, value: string | Uint8Array, tagged = true) {
  const body = typeof value === 'string' ? { SecretString: value } : { SecretBinary: value };
  await w.secrets.send(new CreateSecretCommand({ Name: name, ...body, ...(tagged ? { Tags: [TAG] } : {}) }));
}

/** Every object version in the vault bucket but the fingerprint key, read with the SDK directly. */
async function objectVersions(w: World): Promise<string[]> {
  const keys: string[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const page = await w.vault.s3.send(
      new ListObjectVersionsCommand({ Bucket: w.vault.bucket, KeyMarker, VersionIdMarker }),
    );
    keys.push(...(page.Versions ?? []).map((v) => v.Key ?? '').filter((k) => !k.startsWith('keys/')));
    if (!page.IsTruncated) return keys.sort();
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
  }
}

/** The inventory table as DynamoDB holds it (a raw Scan, no adapter). */
async function rawItems(w: World): Promise<Record<string, unknown>[]> {
  const { Items } = await w.vault.dynamo.send(new ScanCommand({ TableName: w.vault.table }));
  return Items ?? [];
}

const itemOf = (items: Record<string, unknown>[], artifactId: string) =>
  items.find((item) => (item.artifactId as { S?: string }).S === artifactId);

async function targetContext() {
  return localContext(endpoint, freshAccountId(), REGION, TEST_ROLE_NAME);
}

describe('pulled SSM parameters on the emulator', () => {
  it('reads every page, stores each in-scope parameter once, and an unchanged second run writes no data', async () => {
    const w = await world();
    // 23 in scope: three DescribeParameters pages on the emulator (10 a page).
    for (let i = 0; i < 21; i += 1) await putParameter(w, `/app/p${String(i).padStart(2, '0')}`, `value-${i}`);
    await putParameter(w, '/app/db/password', 'pa55-secure', 'SecureString');
    await putParameter(w, '/app/hosts', 'a.example,b.example', 'StringList');
    await putParameter(w, '/app/untagged', 'x', 'String', false);
    await putParameter(w, '/other/tagged', 'x');

    const first = await w.pull('ssm');
    expect(first).toMatchObject({ inScope: 23, changed: 23, dataWrites: 23, failed: 0, nothingChanged: false });
    const versions = await objectVersions(w);
    expect(versions).toHaveLength(23);
    const passwordKeys = versions.filter((k) => k.includes('%2Fapp%2Fdb%2Fpassword'));
    expect(passwordKeys).toHaveLength(1);
    expect(passwordKeys[0]).toMatch(
      new RegExp(`^ssm/${w.source}/eu-west-1/%2Fapp%2Fdb%2Fpassword/\\d{8}T\\d{6}\\.\\d{3}Z-1\\.json$`),
    );
    expect(versions.some((k) => k.includes('untagged') || k.includes('other'))).toBe(false);
    const itemsBefore = await rawItems(w);

    const second = await w.pull('ssm');
    expect(second).toMatchObject({ inScope: 23, changed: 0, unchanged: 23, dataWrites: 0, nothingChanged: true });
    expect(await objectVersions(w)).toEqual(versions);
    const itemsAfter = await rawItems(w);
    const withoutRun = (items: Record<string, unknown>[]) =>
      items.filter((item) => !(item.artifactId as { S: string }).S.startsWith('pull-run:'));
    expect(withoutRun(itemsAfter)).toEqual(expect.arrayContaining(withoutRun(itemsBefore)));
    expect(withoutRun(itemsAfter)).toHaveLength(23);
    const run = itemOf(itemsAfter, `pull-run:ssm:${w.source}:${REGION}`) as { version: { N: string } };
    expect(run.version.N).toBe('2');
  });

  it('keeps a parameter deleted at the source, marked with the time it was first seen missing', async () => {
    const w = await world();
    await putParameter(w, '/app/keep', 'kept');
    await putParameter(w, '/app/gone', 'deleted later');
    await w.pull('ssm');
    await w.ssm.send(new DeleteParameterCommand({ Name: '/app/gone' }));
    const before = new Date().toISOString();

    expect(await w.pull('ssm')).toMatchObject({ deleted: 1, dataWrites: 0 });

    const item = itemOf(await rawItems(w), `ssm-parameter:${w.source}:${REGION}:/app/gone`) as Record<
      string,
      { S?: string }
    >;
    expect(item.state.S).toBe('deleted-at-source');
    expect(item.deletedAt.S && item.deletedAt.S >= before).toBe(true);
    expect((await objectVersions(w)).filter((k) => k.includes('%2Fapp%2Fgone'))).toHaveLength(1);
    // A third run does not move the time first seen missing.
    await w.pull('ssm');
    const again = itemOf(await rawItems(w), `ssm-parameter:${w.source}:${REGION}:/app/gone`) as Record<
      string,
      { S?: string }
    >;
    expect(again.deletedAt.S).toBe(item.deletedAt.S);
  });

  it('restores SecureString, StringList and String values equal into another account, and --at a time between two pulls the version of that time', async () => {
    const w = await world();
    await putParameter(w, '/app/db/password', 'password-one', 'SecureString');
    await putParameter(w, '/app/hosts', 'a.example,b.example', 'StringList');
    await putParameter(w, '/app/url', `https://api.${w.source}.eu-west-1.example`);
    await w.pull('ssm');
    // Two changes between two pulls: the first is only in the parameter's history.
    await sleep(1100);
    await putParameter(w, '/app/db/password', 'password-two', 'SecureString', true, true);
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    await putParameter(w, '/app/db/password', 'password-three', 'SecureString', true, true);
    expect(await w.pull('ssm')).toMatchObject({ changed: 1, dataWrites: 2 });

    const now = await targetContext();
    const nowSsm = new SSMClient(sdkConfig(now));
    cleanup.push(() => nowSsm.destroy());
    const latest = await w.restore(
      { kind: 'ssm', rewrites: parseRewrites([`${w.source}=333333333333`]) },
      new SsmValueTarget(nowSsm),
    );
    expect(latest).toMatchObject({ planned: 3, written: 3, equal: 3, ok: true });
    const read = async (client: SSMClient, name: string) =>
      (await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter;
    expect(await read(nowSsm, '/app/db/password')).toMatchObject({ Type: 'SecureString', Value: 'password-three' });
    expect(await read(nowSsm, '/app/hosts')).toMatchObject({ Type: 'StringList', Value: 'a.example,b.example' });
    expect((await read(nowSsm, '/app/url'))?.Value).toBe('https://api.333333333333.eu-west-1.example');

    const earlier = await targetContext();
    const earlierSsm = new SSMClient(sdkConfig(earlier));
    cleanup.push(() => earlierSsm.destroy());
    const atBetween = await w.restore(
      { kind: 'ssm', at: between, namePrefix: '/app/db/', targetPrefix: '/restored' },
      new SsmValueTarget(earlierSsm),
    );
    expect(atBetween).toMatchObject({ planned: 1, equal: 1, ok: true });
    expect((await read(earlierSsm, '/restored/app/db/password'))?.Value).toBe('password-two');
  });
});

describe('pulled secrets on the emulator', () => {
  it('stores current and previous versions, text and binary, and restores them equal; unchanged runs write nothing', async () => {
    const w = await world();
    await createSecret(w, 'prod/db', 'secret-one');
    await w.secrets.send(new PutSecretValueCommand({ SecretId: 'prod/db', SecretString: 'secret-two' }));
    await createSecret(w, 'prod/cert', Uint8Array.from([0, 1, 2, 250, 255]));
    await createSecret(w, 'dev/db', 'not under the prefix');
    await createSecret(w, 'prod/untagged', 'not tagged', false);

    expect(await w.pull('secrets')).toMatchObject({ inScope: 2, changed: 2, dataWrites: 3, failed: 0 });
    const versions = await objectVersions(w);
    expect(versions.filter((k) => k.startsWith(`secrets/${w.source}/${REGION}/prod%2Fdb/`))).toHaveLength(2);
    expect(versions.filter((k) => k.startsWith(`secrets/${w.source}/${REGION}/prod%2Fcert/`))).toHaveLength(1);
    expect(await w.pull('secrets')).toMatchObject({ unchanged: 2, dataWrites: 0, nothingChanged: true });
    expect(await objectVersions(w)).toEqual(versions);

    const target = await targetContext();
    const client = new SecretsManagerClient(sdkConfig(target));
    cleanup.push(() => client.destroy());
    expect(await w.restore({ kind: 'secrets' }, new SecretsValueTarget(client))).toMatchObject({
      planned: 2,
      equal: 2,
      ok: true,
    });
    const db = await client.send(new GetSecretValueCommand({ SecretId: 'prod/db' }));
    expect(db.SecretString).toBe('secret-two');
    const cert = await client.send(new GetSecretValueCommand({ SecretId: 'prod/cert' }));
    expect(cert.SecretBinary).toEqual(Uint8Array.from([0, 1, 2, 250, 255]));
  });

  it('keeps a secret deleted at the source, marked; a restore --at an earlier time takes the earlier value', async () => {
    const w = await world();
    await createSecret(w, 'prod/rotating', 'before');
    await createSecret(w, 'prod/gone', 'deleted later');
    await w.pull('secrets');
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    await w.secrets.send(new PutSecretValueCommand({ SecretId: 'prod/rotating', SecretString: 'after' }));
    await w.secrets.send(new DeleteSecretCommand({ SecretId: 'prod/gone', RecoveryWindowInDays: 7 }));

    expect(await w.pull('secrets')).toMatchObject({ changed: 1, deleted: 1, dataWrites: 1 });
    const gone = itemOf(await rawItems(w), `secret:${w.source}:${REGION}:prod/gone`) as Record<string, { S?: string }>;
    expect(gone.state.S).toBe('deleted-at-source');
    expect(gone.deletedAt.S).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const target = await targetContext();
    const client = new SecretsManagerClient(sdkConfig(target));
    cleanup.push(() => client.destroy());
    const summary = await w.restore({ kind: 'secrets', at: between }, new SecretsValueTarget(client));
    // At `between` the deleted secret still existed: it is restored too.
    expect(summary).toMatchObject({ planned: 2, equal: 2, skippedDeleted: 0, ok: true });
    expect((await client.send(new GetSecretValueCommand({ SecretId: 'prod/rotating' }))).SecretString).toBe('before');
    expect((await client.send(new GetSecretValueCommand({ SecretId: 'prod/gone' }))).SecretString).toBe(
      'deleted later',
    );
  });
});

describe('no planted value anywhere but the vault bucket', () => {
  const CANARY = {
    secure: 'canary-secure-8d2f61e0',
    plain: 'canary-plain-3b7c9a41',
    secret: 'canary-secret-e05a7d13',
    binary: 'canary-binary-9f14c2b6',
  };

  it('no canary in any log line, stdout or stderr line, inventory item or restore summary', async () => {
    const w = await world();
    await putParameter(w, '/app/canary/secure', CANARY.secure, 'SecureString');
    await putParameter(w, '/app/canary/plain', CANARY.plain);
    await createSecret(w, 'prod/canary', CANARY.secret);
    await createSecret(w, 'prod/canary-binary', new TextEncoder().encode(CANARY.binary));

    const summaries = [await w.pull('ssm'), await w.pull('secrets'), await w.pull('ssm')];
    await w.ssm.send(new DeleteParameterCommand({ Name: '/app/canary/plain' }));
    summaries.push(await w.pull('ssm'));
    const target = await targetContext();
    const ssm = new SSMClient(sdkConfig(target));
    const secrets = new SecretsManagerClient(sdkConfig(target));
    cleanup.push(
      () => ssm.destroy(),
      () => secrets.destroy(),
    );
    const restores = [
      await w.restore({ kind: 'ssm' }, new SsmValueTarget(ssm)),
      await w.restore({ kind: 'secrets' }, new SecretsValueTarget(secrets)),
    ];
    expect(restores.map((r) => r.ok)).toEqual([true, true]);

    const everything = [
      ...w.lines,
      JSON.stringify(await rawItems(w)),
      JSON.stringify(summaries),
      JSON.stringify(restores),
    ].join('\n');
    expect(w.lines.some((line) => line.includes('"level":"INFO"'))).toBe(true);
    expect(w.lines.some((line) => line.includes('restore progress'))).toBe(true);
    for (const canary of Object.values(CANARY)) expect(everything).not.toContain(canary);

    // They were pulled all the same: the vault bucket holds them (encrypted at rest under the backup-data key).
    const bodies: string[] = [];
    for (const key of await objectVersions(w)) {
      const object = await w.vault.s3.send(new GetObjectCommand({ Bucket: w.vault.bucket, Key: key }));
      bodies.push(await (object.Body?.transformToString() ?? Promise.resolve('')));
    }
    const stored = bodies.join('\n');
    expect(stored).toContain(CANARY.secure);
    expect(stored).toContain(CANARY.secret);
    expect(stored).toContain(Buffer.from(CANARY.binary).toString('base64'));
  });
});
