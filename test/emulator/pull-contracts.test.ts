/**
 * The contracts of the pulled-backup ports: the same cases against the
 * in-memory doubles (sim/memory-pull.ts, sim/memory-pull-sources.ts), which
 * the core's tests use, and against the SDK adapters
 * (lambdas/adapters/pull/) on the emulator, each in fresh accounts. A case
 * that passes on one and fails on the other is drift: fix the double (or the
 * adapter), never the case.
 *
 * Out of the contract: ListSecrets pages (100 a page would need over a
 * hundred secrets per case), throttling, KMS failures on one parameter and
 * AccessDenied on one secret (the emulator has no way to make them); the
 * doubles model those and the core's tests rely on them.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import {
  AddTagsToResourceCommand,
  DeleteParameterCommand,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { clientConfig as sdkConfig } from '../../lambdas/adapters/aws-context';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { secretsSourceFor } from '../../lambdas/adapters/pull/secrets-source';
import { ssmSourceFor } from '../../lambdas/adapters/pull/ssm-source';
import { SecretsValueTarget, SsmValueTarget } from '../../lambdas/adapters/pull/value-targets';
import { newRecord } from '../../lambdas/core/inventory';
import { vaultNames } from '../../lambdas/core/names';
import type { ValueTarget } from '../../lambdas/core/pull/restore/values';
import type { SecretsSource } from '../../lambdas/core/pull/secrets/pull';
import { SecretValue } from '../../lambdas/core/pull/secret-value';
import type { SsmParameterType, SsmSource } from '../../lambdas/core/pull/ssm/pull';
import type { PulledInventory, PulledRecord, PullRunRecord, VaultStore } from '../../lambdas/core/pull/types';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryPulledInventory, MemoryVaultStore } from '../../sim/memory-pull';
import { MemorySecrets, MemorySsm } from '../../sim/memory-pull-sources';
import { freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { pullRunSummary } from '../support/pull-runs';
import { createPullVault, type PullVault } from './support/pull';

const endpoint = emulatorEndpoint();
const REGION = 'eu-west-1';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const vaults: PullVault[] = [];
const destroyers: (() => void)[] = [];
afterAll(() => {
  for (const vault of vaults.splice(0)) vault.destroy();
  for (const destroy of destroyers.splice(0)) destroy();
});

async function emulatorVault(): Promise<PullVault> {
  const vault = await createPullVault(endpoint, freshAccountId(), REGION);
  vaults.push(vault);
  return vault;
}

const utf8 = (text: string) => new TextEncoder().encode(text);

describe.each([
  ['memory', async (): Promise<VaultStore> => new MemoryVaultStore()],
  ['emulator', async (): Promise<VaultStore> => (await emulatorVault()).store],
])('VaultStore contract (%s)', (_name, make) => {
  it('writes a key once: a second write answers false and leaves the first body', async () => {
    const store = await make();
    expect(await store.putOnce('ssm/a/1.json', utf8('first'), 'application/json')).toBe(true);
    expect(await store.putOnce('ssm/a/1.json', utf8('second'), 'application/json')).toBe(false);
    expect(new TextDecoder().decode(await store.get('ssm/a/1.json'))).toBe('first');
  });

  it('answers undefined for a key it does not hold', async () => {
    const store = await make();
    expect(await store.get('ssm/none.json')).toBeUndefined();
  });

  it('lists the keys under a prefix in key order with their sizes', async () => {
    const store = await make();
    await store.putOnce('ssm/b/20260301T020000.000Z-2.json', utf8('22'));
    await store.putOnce('ssm/b/20260301T010000.000Z-1.json', utf8('1'));
    await store.putOnce('ssm/bb/20260301T010000.000Z-1.json', utf8('333'));
    await store.putOnce('secrets/b/x.json', utf8('4444'));
    expect(await store.list('ssm/b/')).toEqual([
      { key: 'ssm/b/20260301T010000.000Z-1.json', size: 1 },
      { key: 'ssm/b/20260301T020000.000Z-2.json', size: 2 },
    ]);
    expect((await store.list('ssm/b')).map((o) => o.key)).toEqual([
      'ssm/b/20260301T010000.000Z-1.json',
      'ssm/b/20260301T020000.000Z-2.json',
      'ssm/bb/20260301T010000.000Z-1.json',
    ]);
    expect(await store.list('dynamodb/')).toEqual([]);
  });
});

describe('S3VaultStore on the emulator', () => {
  it('writes under the backup-data key, locked by the default retention, and a refused second write adds no version', async () => {
    const vault = await emulatorVault();
    await vault.store.putOnce('ssm/k/1.json', utf8('one'));
    await vault.store.putOnce('ssm/k/1.json', utf8('two'));
    const head = await vault.s3.send(new HeadObjectCommand({ Bucket: vault.bucket, Key: 'ssm/k/1.json' }));
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(head.SSEKMSKeyId).toBe(vault.keyArn);
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    const versions = await vault.s3.send(new ListObjectVersionsCommand({ Bucket: vault.bucket, Prefix: 'ssm/k/' }));
    expect(versions.Versions?.length).toBe(1);
  });
});

const T = '2026-03-01T00:00:00.000Z';
const pulledRecord = (name: string, scope = 'ssm-parameter:111111111111:eu-west-1'): PulledRecord => ({
  artifactId: `${scope}:${name}`,
  kind: 'ssm-parameter',
  pullScope: scope,
  state: 'held',
  sourceAccount: '111111111111',
  sourceRegion: 'eu-west-1',
  sourceId: name,
  count: 1,
  heldVersionIds: ['1'],
  latest: { id: '1', modifiedAt: T, pulledAt: T, objectKey: `ssm/${name}/1.json`, checksum: 'hmac-sha256:00' },
  createdAt: T,
  updatedAt: T,
  version: 1,
});
const runRecord: PullRunRecord = {
  artifactId: 'pull-run:ssm:111111111111:eu-west-1',
  kind: 'pull-run',
  lastRunAt: T,
  summary: pullRunSummary({ account: '111111111111', startedAt: T, finishedAt: T, inScope: 1, unchanged: 1 }),
  version: 1,
};

describe.each([
  ['memory', async (): Promise<PulledInventory> => new MemoryPulledInventory()],
  ['emulator', async (): Promise<PulledInventory> => (await emulatorVault()).records],
])('PulledInventory contract (%s)', (_name, make) => {
  it('creates a record once and gets it back as written', async () => {
    const records = await make();
    expect(await records.create(pulledRecord('/a'))).toBe(true);
    expect(await records.create({ ...pulledRecord('/a'), count: 9 })).toBe(false);
    expect(await records.get('ssm-parameter:111111111111:eu-west-1:/a')).toEqual(pulledRecord('/a'));
    expect(await records.get('ssm-parameter:111111111111:eu-west-1:/none')).toBeUndefined();
  });

  it('replaces only over the stored version', async () => {
    const records = await make();
    const first = pulledRecord('/a');
    await records.create(first);
    const second: PulledRecord = { ...first, state: 'deleted-at-source', deletedAt: T, version: 2 };
    expect(await records.replace(first, second)).toBe(true);
    expect(await records.replace(first, { ...first, version: 2, count: 5 })).toBe(false);
    expect(await records.get(first.artifactId)).toEqual(second);
  });

  it('lists one scope in one query, all pulled records in a list, and keeps run records apart', async () => {
    const records = await make();
    await records.create(pulledRecord('/a'));
    await records.create(pulledRecord('/b'));
    await records.create({ ...pulledRecord('s', 'secret:111111111111:eu-west-1'), kind: 'secret' });
    await records.putRun(runRecord);
    await records.putRun({ ...runRecord, version: 2 });

    const scope = await records.listScope('ssm-parameter', '111111111111', 'eu-west-1');
    expect(scope.map((r) => r.sourceId).sort()).toEqual(['/a', '/b']);
    expect((await records.listScope('secret', '111111111111', 'eu-west-1')).map((r) => r.sourceId)).toEqual(['s']);
    expect(await records.listScope('secret', '222222222222', 'eu-west-1')).toEqual([]);
    expect((await records.list()).map((r) => r.artifactId).sort()).toEqual([
      'secret:111111111111:eu-west-1:s',
      'ssm-parameter:111111111111:eu-west-1:/a',
      'ssm-parameter:111111111111:eu-west-1:/b',
    ]);
    expect(await records.getRun('ssm', '111111111111', 'eu-west-1')).toEqual({ ...runRecord, version: 2 });
    expect(await records.getRun('secrets', '111111111111', 'eu-west-1')).toBeUndefined();
  });
});

describe('the copy inventory on the emulator', () => {
  it('leaves pulled records and run records out of its list', async () => {
    const vault = await emulatorVault();
    const inventory = new DynamoInventory(vault.dynamo, vault.table, vaultNames('bunker').inventoryStatusIndex);
    const copy = newRecord(
      {
        artifactId: 'rds-snapshot:111111111111:eu-west-1:orders',
        kind: 'rds-snapshot',
        status: 'expected',
        sourceAccount: '111111111111',
      },
      new Date(T),
    );
    await inventory.create(copy);
    await vault.records.create(pulledRecord('/a'));
    await vault.records.putRun(runRecord);
    expect((await inventory.list()).map((r) => r.artifactId)).toEqual(['rds-snapshot:111111111111:eu-west-1:orders']);
  });
});

// ---------------------------------------------------------------------------
// Sources and targets
// ---------------------------------------------------------------------------

/**
 * A source account and a restore target account, fresh for the harness, each
 * with its own client of one service (closed after the file): the adapters
 * read the one and write the other, and the harness checks both with these
 * clients, not through the adapters.
 */
async function sourceAndTarget<C extends { destroy(): void }>(client: (config: ReturnType<typeof sdkConfig>) => C) {
  const context = await localContext(endpoint, freshAccountId(), REGION, TEST_ROLE_NAME);
  const targetContext = await localContext(endpoint, freshAccountId(), REGION, TEST_ROLE_NAME);
  const sourceClient = client(sdkConfig(context));
  const targetClient = client(sdkConfig(targetContext));
  destroyers.push(
    () => sourceClient.destroy(),
    () => targetClient.destroy(),
  );
  return { context, client: sourceClient, targetClient };
}

/** Tags as the SSM and Secrets Manager APIs take them. */
const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

interface SsmHarness {
  readonly source: SsmSource;
  put(name: string, value: string, options?: { type?: SsmParameterType; tags?: Record<string, string> }): Promise<void>;
  overwrite(name: string, value: string): Promise<void>;
  tag(name: string, tags: Record<string, string>): Promise<void>;
  delete(name: string): Promise<void>;
  /** A restore target in another account, and what it holds by its own reading. */
  readonly target: ValueTarget;
  targetType(name: string): Promise<string | undefined>;
}

async function emulatorSsm(): Promise<SsmHarness> {
  const { context, client: ssm, targetClient: targetSsm } = await sourceAndTarget((config) => new SSMClient(config));
  return {
    source: ssmSourceFor(context),
    put: async (name, value, options = {}) => {
      const tags = tagList(options.tags ?? {});
      await ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: options.type ?? 'String',
          ...(tags.length ? { Tags: tags } : {}),
        }),
      );
    },
    overwrite: async (name, value) => {
      await ssm.send(new PutParameterCommand({ Name: name, Value: value, Overwrite: true }));
    },
    tag: async (name, tags) => {
      const Tags = tagList(tags);
      await ssm.send(new AddTagsToResourceCommand({ ResourceType: 'Parameter', ResourceId: name, Tags }));
    },
    delete: async (name) => {
      await ssm.send(new DeleteParameterCommand({ Name: name }));
    },
    target: new SsmValueTarget(targetSsm),
    targetType: async (name) => (await targetSsm.send(new GetParameterCommand({ Name: name }))).Parameter?.Type,
  };
}

async function memorySsm(): Promise<SsmHarness> {
  const clock = new ManualClock();
  const ssm = new MemorySsm(clock);
  const target = new MemorySsm(clock, '333333333333');
  return {
    source: ssm,
    put: async (name, value, options = {}) => {
      clock.advance(1000);
      ssm.put(name, value, options);
    },
    overwrite: async (name, value) => {
      clock.advance(1000);
      ssm.put(name, value, { overwrite: true });
    },
    tag: async (name, tags) => ssm.tag(name, tags),
    delete: async (name) => ssm.delete(name),
    target: target.target(),
    targetType: async (name) => target.current(name)?.type,
  };
}

describe.each([
  ['memory', memorySsm],
  ['emulator', emulatorSsm],
])('SsmSource and SSM restore target contract (%s)', (_name, make) => {
  let h: SsmHarness;
  beforeAll(async () => {
    h = await make();
    // 55 parameters: more than one page on AWS (50), the emulator (10) and the double (50).
    for (let i = 0; i < 55; i += 1) await h.put(`/bulk/p${String(i).padStart(2, '0')}`, `value-${i}`);
    await h.put('/app/db/password', 'pa55word', { type: 'SecureString', tags: { backup: 'bunker', team: 'db' } });
    await h.put('/app/hosts', 'a.example,b.example', { type: 'StringList' });
    await h.put('plain', 'no slash', { tags: { backup: 'bunker' } });
    await h.put('/other/tagged', 'x', { tags: { backup: 'other' } });
  });

  it('describes every parameter over every page, with type, version and time but no value', async () => {
    const all = await h.source.describe();
    expect(all.length).toBe(59);
    expect(all.filter((p) => p.name.startsWith('/bulk/')).length).toBe(55);
    const password = all.find((p) => p.name === '/app/db/password');
    expect(password).toMatchObject({ type: 'SecureString', version: '1' });
    expect(password?.modifiedAt).toMatch(ISO);
    expect(all.find((p) => p.name === '/app/hosts')?.type).toBe('StringList');
    expect(JSON.stringify(all)).not.toContain('pa55word');
  });

  it('reads tags in bulk by name, with and without a leading slash, narrowed by a tag', async () => {
    const tagged = await h.source.tags({ key: 'backup', value: 'bunker' });
    expect(tagged.get('/app/db/password')).toEqual({ backup: 'bunker', team: 'db' });
    expect(tagged.get('plain')).toEqual({ backup: 'bunker' });
    expect(tagged.get('/other/tagged')).toBeUndefined();
    expect(tagged.get('/bulk/p00')).toBeUndefined();
    const all = await h.source.tags();
    expect(all.get('/other/tagged')).toEqual({ backup: 'other' });
  });

  it('reads up to 10 values decrypted, and names the ones it does not have', async () => {
    const read = await h.source.read(['/app/db/password', '/app/hosts', 'plain', '/app/none']);
    const byName = new Map(read.values.map((v) => [v.name, v]));
    expect(byName.get('/app/db/password')?.value.reveal()).toBe('pa55word');
    expect(byName.get('/app/db/password')).toMatchObject({ type: 'SecureString', version: '1' });
    expect(byName.get('/app/hosts')?.value.reveal()).toBe('a.example,b.example');
    expect(byName.get('plain')?.value.reveal()).toBe('no slash');
    expect(read.missing).toEqual(['/app/none']);
  });

  it('an overwrite is a new version with a time not before the first; a deleted parameter is gone', async () => {
    await h.put('/life/x', 'v1');
    const before = (await h.source.describe()).find((p) => p.name === '/life/x');
    await h.overwrite('/life/x', 'v2');
    const after = (await h.source.describe()).find((p) => p.name === '/life/x');
    expect(after?.version).toBe('2');
    expect(Date.parse(after?.modifiedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(before?.modifiedAt ?? ''));
    expect((await h.source.read(['/life/x'])).values[0].value.reveal()).toBe('v2');
    await h.delete('/life/x');
    expect((await h.source.describe()).some((p) => p.name === '/life/x')).toBe(false);
    expect((await h.source.read(['/life/x'])).missing).toEqual(['/life/x']);
  });

  it('reads the history after a version, oldest first, decrypted; none for a parameter it does not have', async () => {
    await h.put('/hist/x', 'h1', { type: 'SecureString' });
    await h.overwrite('/hist/x', 'h2');
    await h.overwrite('/hist/x', 'h3');
    const history = await h.source.history('/hist/x', 1);
    expect(history?.map((v) => [v.version, v.value.reveal()])).toEqual([
      ['2', 'h2'],
      ['3', 'h3'],
    ]);
    expect(history?.[0].modifiedAt).toMatch(ISO);
    expect(await h.source.history('/hist/none', 0)).toBeUndefined();
  });

  it('the restore target writes over what is there, keeps the type, and reads back', async () => {
    expect(await h.target.read('/restored/none')).toBeUndefined();
    await h.target.write('/restored/secure', 'SecureString', SecretValue.text('first'));
    await h.target.write('/restored/secure', 'SecureString', SecretValue.text('second'));
    await h.target.write('/restored/list', 'StringList', SecretValue.text('a,b'));
    expect((await h.target.read('/restored/secure'))?.reveal()).toBe('second');
    expect(await h.targetType('/restored/secure')).toBe('SecureString');
    expect(await h.targetType('/restored/list')).toBe('StringList');
  });
});

interface SecretsHarness {
  readonly source: SecretsSource;
  create(name: string, value: string | Uint8Array, tags?: Record<string, string>): Promise<void>;
  putValue(name: string, value: string): Promise<void>;
  tag(name: string, tags: Record<string, string>): Promise<void>;
  delete(name: string): Promise<void>;
  readonly target: ValueTarget;
}

async function emulatorSecrets(): Promise<SecretsHarness> {
  const { context, client, targetClient } = await sourceAndTarget((config) => new SecretsManagerClient(config));
  return {
    source: secretsSourceFor(context),
    create: async (name, value, tags = {}) => {
      const Tags = tagList(tags);
      const body = typeof value === 'string' ? { SecretString: value } : { SecretBinary: value };
      await client.send(new CreateSecretCommand({ Name: name, ...body, ...(Tags.length ? { Tags } : {}) }));
    },
    putValue: async (name, value) => {
      await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
    },
    tag: async (name, tags) => {
      const Tags = tagList(tags);
      await client.send(new TagResourceCommand({ SecretId: name, Tags }));
    },
    delete: async (name) => {
      await client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    },
    target: new SecretsValueTarget(targetClient),
  };
}

async function memorySecrets(): Promise<SecretsHarness> {
  const clock = new ManualClock();
  const secrets = new MemorySecrets(clock);
  const target = new MemorySecrets(clock, '333333333333');
  return {
    source: secrets,
    create: async (name, value, tags) => {
      clock.advance(1000);
      secrets.create(name, value, tags);
    },
    putValue: async (name, value) => {
      clock.advance(1000);
      secrets.putValue(name, value);
    },
    tag: async () => {
      throw new Error('not used');
    },
    delete: async (name) => secrets.delete(name),
    target: target.target(),
  };
}

describe.each([
  ['memory', memorySecrets],
  ['emulator', emulatorSecrets],
])('SecretsSource and Secrets Manager restore target contract (%s)', (_name, make) => {
  let h: SecretsHarness;
  beforeAll(async () => {
    h = await make();
    await h.create('prod/db', 'first', { backup: 'bunker' });
    await h.putValue('prod/db', 'second');
    await h.create('prod/cert', Uint8Array.from([0, 1, 2, 250]));
    await h.create('prod/gone', 'bye');
    await h.delete('prod/gone');
  });

  it('lists secrets with their tags and labelled versions; one scheduled for deletion is not listed', async () => {
    const all = await h.source.list();
    expect(all.map((s) => s.name).sort()).toEqual(['prod/cert', 'prod/db']);
    const db = all.find((s) => s.name === 'prod/db');
    expect(db?.tags).toEqual({ backup: 'bunker' });
    expect(db?.arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:\d{12}:secret:prod\/db-[A-Za-z0-9]{6}$/);
    expect(db?.versions.map((v) => v.labels).sort()).toEqual([['AWSCURRENT'], ['AWSPREVIOUS']]);
    expect(JSON.stringify(all)).not.toContain('second');
  });

  it('reads each version by id, text and binary, with its creation time', async () => {
    const all = await h.source.list();
    const db = all.find((s) => s.name === 'prod/db');
    const current = db?.versions.find((v) => v.labels.includes('AWSCURRENT'))?.id ?? '';
    const previous = db?.versions.find((v) => v.labels.includes('AWSPREVIOUS'))?.id ?? '';
    const read = await h.source.read(db?.arn ?? '', current);
    expect(read.value.reveal()).toBe('second');
    expect(read.createdAt).toMatch(ISO);
    expect((await h.source.read(db?.arn ?? '', previous)).value.reveal()).toBe('first');
    const cert = all.find((s) => s.name === 'prod/cert');
    const certRead = await h.source.read(cert?.arn ?? '', cert?.versions[0].id ?? '');
    expect(certRead.value.form).toBe('binary');
    expect(certRead.value.reveal()).toEqual(Uint8Array.from([0, 1, 2, 250]));
  });

  it('the restore target creates or updates a secret, text or binary, and reads back', async () => {
    expect(await h.target.read('restored/none')).toBeUndefined();
    await h.target.write('restored/db', 'string', SecretValue.text('one'));
    await h.target.write('restored/db', 'string', SecretValue.text('two'));
    await h.target.write('restored/cert', 'binary', SecretValue.binary(Uint8Array.from([9, 8, 7])));
    expect((await h.target.read('restored/db'))?.reveal()).toBe('two');
    const cert = await h.target.read('restored/cert');
    expect(cert?.form).toBe('binary');
    expect(cert?.reveal()).toEqual(Uint8Array.from([9, 8, 7]));
  });
});
