/**
 * Pulling SSM parameters and secrets, and restoring them, in the core over
 * the in-memory sources (sim/memory-pull-sources.ts) and the in-memory
 * vault store and inventory (sim/memory-pull.ts). Keys, checksums and
 * summaries are written out as literals.
 */
import { Console } from 'node:console';
import { format, inspect } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetryLaterError } from '../../lambdas/core/errors';
import type { Log } from '../../lambdas/core/ports';
import { hmacFingerprint } from '../../lambdas/core/pull/fingerprint';
import { parseRewrites } from '../../lambdas/core/pull/restore/rewrite';
import {
  planValueRestore,
  restoreValues,
  targetNameOf,
  type ValueTarget,
} from '../../lambdas/core/pull/restore/values';
import { PullNotEnabledError, runPull } from '../../lambdas/core/pull/run';
import { pulledInScope } from '../../lambdas/core/pull/scope';
import { SecretValue } from '../../lambdas/core/pull/secret-value';
import type { SsmSource } from '../../lambdas/core/pull/ssm/pull';
import type { PullContext, PulledConfigKey, PullJob, PullSettings } from '../../lambdas/core/pull/types';
import { decodeValueObject, parseValueObjectKey, valueObjectKey } from '../../lambdas/core/pull/values';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryPulledInventory, MemoryVaultStore } from '../../sim/memory-pull';
import { MemorySecrets, MemorySsm } from '../../sim/memory-pull-sources';

const ACCOUNT = '111111111111';
const TARGET_ACCOUNT = '333333333333';
const REGION = 'eu-west-1';
const T0 = '2026-03-01T00:00:00.000Z';
const HOUR = 3_600_000;
const TAG = { key: 'backup', value: 'bunker' };
const TAGGED = { backup: 'bunker' };
const FINGERPRINT_KEY = new Uint8Array(32).fill(7);

/** The HMAC-SHA256 under {@link FINGERPRINT_KEY} of `db-password-1`, computed with Python's hmac module. */
const CHECKSUM_DB_PASSWORD_1 = 'hmac-sha256:6dac2028135a0905f9465ab73dc49d6d1ff4e34fdbdb0d5ad29cf9001f047ae4';

interface Harness {
  readonly clock: ManualClock;
  readonly store: MemoryVaultStore;
  readonly records: MemoryPulledInventory;
  readonly lines: string[];
  readonly continued: { job: PullJob; delaySeconds: number }[];
  ctx(kind: PulledConfigKey, deadline?: number): PullContext;
}

/** Every log line as it would be printed: message and fields through JSON and util.inspect. */
function recordingLog(lines: string[]): Log {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})} ${inspect(fields ?? {}, { depth: 10 })}`);
  };
  return { info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}

function harness(): Harness {
  const clock = new ManualClock(T0);
  const store = new MemoryVaultStore();
  const records = new MemoryPulledInventory();
  const lines: string[] = [];
  const continued: { job: PullJob; delaySeconds: number }[] = [];
  const log = recordingLog(lines);
  return {
    clock,
    store,
    records,
    lines,
    continued,
    ctx: (kind, deadline = Number.MAX_SAFE_INTEGER) => ({
      job: { kind, account: ACCOUNT, region: REGION },
      store,
      records,
      fingerprint: hmacFingerprint(FINGERPRINT_KEY),
      clock,
      log,
      deadline,
      continueLater: async (job, delaySeconds) => {
        continued.push({ job, delaySeconds });
      },
    }),
  };
}

const ssmSettings: PullSettings = { ssm: { scope: { tag: TAG }, paths: ['/app/'] } };
const secretsSettings: PullSettings = { secrets: { scope: { tag: TAG }, namePrefixes: ['prod/'] } };

/** The stored value at `key`, revealed for the assertion. */
async function storedValue(store: MemoryVaultStore, key: string): Promise<string | Uint8Array | undefined> {
  const body = await store.get(key);
  return body && decodeValueObject(body).value.reveal();
}

describe('pulled scope', () => {
  it('takes a resource only when it matches every rule that is set', () => {
    const rules = { scope: { tag: TAG }, prefixes: ['/app/', '/shared/'] };
    expect(pulledInScope(rules, { name: '/app/db', tags: TAGGED })).toBe(true);
    expect(pulledInScope(rules, { name: '/shared/x', tags: TAGGED })).toBe(true);
    expect(pulledInScope(rules, { name: '/other/db', tags: TAGGED })).toBe(false);
    expect(pulledInScope(rules, { name: '/app/db', tags: { backup: 'no' } })).toBe(false);
    expect(pulledInScope({ scope: { tag: TAG } }, { name: 'anything', tags: TAGGED })).toBe(true);
    const ids = { scope: { ids: ['/app/db', 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:s-AbCdEf'] } };
    expect(pulledInScope(ids, { name: '/app/db', tags: {} })).toBe(true);
    expect(
      pulledInScope(ids, { name: 's', arn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:s-AbCdEf', tags: {} }),
    ).toBe(true);
    expect(pulledInScope(ids, { name: '/app/db2', tags: {} })).toBe(false);
    expect(pulledInScope({ ...ids, prefixes: ['/other/'] }, { name: '/app/db', tags: {} })).toBe(false);
  });
});

describe('value object keys', () => {
  it('sort by time and parse back', () => {
    const key = valueObjectKey('ssm', ACCOUNT, REGION, '/app/db', '2026-03-01T10:20:30.456Z', '12');
    expect(key).toBe('ssm/111111111111/eu-west-1/%2Fapp%2Fdb/20260301T102030.456Z-12.json');
    expect(parseValueObjectKey(key)).toEqual({
      kind: 'ssm',
      account: ACCOUNT,
      region: REGION,
      name: '/app/db',
      modifiedAt: '2026-03-01T10:20:30.456Z',
      versionId: '12',
    });
    expect(parseValueObjectKey('keys/fingerprint-v1')).toBeUndefined();
  });
});

describe('pullSsm', () => {
  afterEach(() => vi.restoreAllMocks());

  function source(h: Harness) {
    const ssm = new MemorySsm(h.clock, ACCOUNT, REGION);
    ssm.put('/app/db/password', 'db-password-1', { type: 'SecureString', tags: TAGGED });
    ssm.put('/app/hosts', 'a.example,b.example', { type: 'StringList', tags: TAGGED });
    ssm.put('/app/untagged', 'not in scope');
    ssm.put('/other/tagged', 'not under the path', { tags: TAGGED });
    return ssm;
  }

  it('stores each in-scope parameter as one object and one held record, and says what it did', async () => {
    const h = harness();
    const ssm = source(h);
    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm });

    expect(summary).toEqual({
      kind: 'ssm',
      account: ACCOUNT,
      region: REGION,
      startedAt: T0,
      finishedAt: T0,
      inScope: 2,
      changed: 2,
      unchanged: 0,
      deleted: 0,
      failed: 0,
      dataWrites: 2,
      nothingChanged: false,
      continued: false,
      breaches: [],
    });
    expect([...h.store.objects.keys()].sort()).toEqual([
      'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T000000.000Z-1.json',
      'ssm/111111111111/eu-west-1/%2Fapp%2Fhosts/20260301T000000.000Z-1.json',
    ]);
    const record = await h.records.get('ssm-parameter:111111111111:eu-west-1:/app/db/password');
    expect(record).toEqual({
      artifactId: 'ssm-parameter:111111111111:eu-west-1:/app/db/password',
      kind: 'ssm-parameter',
      pullScope: 'ssm-parameter:111111111111:eu-west-1',
      state: 'held',
      sourceAccount: ACCOUNT,
      sourceRegion: REGION,
      sourceId: '/app/db/password',
      valueType: 'SecureString',
      count: 1,
      checksum: CHECKSUM_DB_PASSWORD_1,
      latest: {
        id: '1',
        modifiedAt: T0,
        pulledAt: T0,
        objectKey: 'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T000000.000Z-1.json',
        checksum: CHECKSUM_DB_PASSWORD_1,
      },
      heldVersionIds: ['1'],
      firstPulledAt: T0,
      lastChangedAt: T0,
      createdAt: T0,
      updatedAt: T0,
      version: 1,
    });
    expect(
      await storedValue(h.store, 'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T000000.000Z-1.json'),
    ).toBe('db-password-1');
    expect((await h.records.getRun('ssm', ACCOUNT, REGION))?.summary.changed).toBe(2);
  });

  it('takes the parameters listed by name when the scope is a list of ids, reading no tags', async () => {
    const h = harness();
    const ssm = source(h);
    const summary = await runPull(h.ctx('ssm'), { ssm: { scope: { ids: ['/app/untagged', '/missing'] } } }, { ssm });
    expect(summary.inScope).toBe(1);
    expect((await h.records.list()).map((r) => r.sourceId)).toEqual(['/app/untagged']);
    expect(ssm.calls.tagPages).toBe(0);
  });

  it('an unchanged second run reads no value, writes no object and no record, and says nothing changed', async () => {
    const h = harness();
    const ssm = source(h);
    await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    const recordsBefore = structuredClone([...h.records.records.values()]);
    const readsBefore = ssm.calls.getParameters;
    h.clock.advance(HOUR);
    h.lines.length = 0;

    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm });

    expect(summary).toMatchObject({ inScope: 2, changed: 0, unchanged: 2, dataWrites: 0, nothingChanged: true });
    expect(h.store.writes).toBe(2);
    expect(ssm.calls.getParameters).toBe(readsBefore);
    expect([...h.records.records.values()]).toEqual(recordsBefore);
    expect((await h.records.getRun('ssm', ACCOUNT, REGION))?.version).toBe(2);
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]).toMatch(/^INFO pull run: nothing changed /);
  });

  it('keeps every version pulled: a changed value is a new object next to the old one', async () => {
    const h = harness();
    const ssm = source(h);
    await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    h.clock.advance(HOUR);
    ssm.put('/app/db/password', 'db-password-2', { type: 'SecureString', overwrite: true });
    h.clock.advance(HOUR);

    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm });

    expect(summary).toMatchObject({ changed: 1, unchanged: 1, dataWrites: 1, nothingChanged: false });
    const keys = (await h.store.list('ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/')).map((o) => o.key);
    expect(keys).toEqual([
      'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T000000.000Z-1.json',
      'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T010000.000Z-2.json',
    ]);
    expect(await storedValue(h.store, keys[1])).toBe('db-password-2');
    const record = await h.records.get('ssm-parameter:111111111111:eu-west-1:/app/db/password');
    expect(record).toMatchObject({ count: 2, heldVersionIds: ['1', '2'], version: 2, firstPulledAt: T0 });
    expect(record?.latest).toMatchObject({ id: '2', modifiedAt: '2026-03-01T01:00:00.000Z' });
  });

  it('reads the versions made between two pulls from the history, so each is kept and can be restored', async () => {
    const h = harness();
    const ssm = source(h);
    await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    h.clock.advance(HOUR);
    ssm.put('/app/db/password', 'db-password-2', { type: 'SecureString', overwrite: true });
    h.clock.advance(HOUR);
    ssm.put('/app/db/password', 'db-password-3', { type: 'SecureString', overwrite: true });
    h.clock.advance(HOUR);
    ssm.put('/app/hosts', 'c.example', { type: 'StringList', overwrite: true });
    const reads = ssm.calls.getParameters;

    expect(await runPull(h.ctx('ssm'), ssmSettings, { ssm })).toMatchObject({ changed: 2, dataWrites: 3 });

    expect(ssm.calls).toMatchObject({ getParameterHistory: 1, getParameters: reads + 1 });
    const keys = (await h.store.list('ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/')).map((o) => o.key);
    expect(keys).toEqual([
      'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T000000.000Z-1.json',
      'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T010000.000Z-2.json',
      'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Fpassword/20260301T020000.000Z-3.json',
    ]);
    expect(await storedValue(h.store, keys[1])).toBe('db-password-2');
    expect(await h.records.get('ssm-parameter:111111111111:eu-west-1:/app/db/password')).toMatchObject({
      count: 3,
      heldVersionIds: ['1', '2', '3'],
      latest: { id: '3', modifiedAt: '2026-03-01T02:00:00.000Z' },
    });
  });

  it('keeps a parameter deleted at the source, marked with the time first seen missing; made again, it is held again', async () => {
    const h = harness();
    const ssm = source(h);
    await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    ssm.delete('/app/hosts');
    h.clock.advance(HOUR);

    expect(await runPull(h.ctx('ssm'), ssmSettings, { ssm })).toMatchObject({ inScope: 1, deleted: 1, dataWrites: 0 });
    h.clock.advance(HOUR);
    expect(await runPull(h.ctx('ssm'), ssmSettings, { ssm })).toMatchObject({ deleted: 0, nothingChanged: true });

    const id = 'ssm-parameter:111111111111:eu-west-1:/app/hosts';
    expect(await h.records.get(id)).toMatchObject({
      state: 'deleted-at-source',
      deletedAt: '2026-03-01T01:00:00.000Z',
    });
    expect(h.store.objects.has('ssm/111111111111/eu-west-1/%2Fapp%2Fhosts/20260301T000000.000Z-1.json')).toBe(true);

    // Made again: version 1 again, a new time, so a new object.
    ssm.put('/app/hosts', 'c.example', { type: 'StringList', tags: TAGGED });
    h.clock.advance(HOUR);
    expect(await runPull(h.ctx('ssm'), ssmSettings, { ssm })).toMatchObject({ changed: 1, dataWrites: 1 });
    const record = await h.records.get(id);
    expect(record).toMatchObject({ state: 'held', count: 2, heldVersionIds: ['1'] });
    expect(record?.deletedAt).toBeUndefined();
    expect(record?.latest?.objectKey).toBe('ssm/111111111111/eu-west-1/%2Fapp%2Fhosts/20260301T020000.000Z-1.json');
  });

  it('a parameter whose key fails is failed with its reason, the others in its batch are held, and it is retried', async () => {
    const h = harness();
    const ssm = source(h);
    ssm.failReads('/app/db/password', 'KMS.DisabledException');

    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm });

    expect(summary).toMatchObject({ inScope: 2, changed: 1, failed: 1 });
    expect(await h.records.get('ssm-parameter:111111111111:eu-west-1:/app/db/password')).toMatchObject({
      state: 'failed',
      reason: 'KMS.DisabledException: The key cannot be used to decrypt the parameter.',
    });
    expect(await h.records.get('ssm-parameter:111111111111:eu-west-1:/app/hosts')).toMatchObject({ state: 'held' });
    expect(h.lines.at(-1)).toMatch(/^WARN pull run /);

    ssm.failReads('/app/db/password', undefined);
    expect(await runPull(h.ctx('ssm'), ssmSettings, { ssm })).toMatchObject({ changed: 1, failed: 0 });
    const record = await h.records.get('ssm-parameter:111111111111:eu-west-1:/app/db/password');
    expect(record).toMatchObject({ state: 'held', count: 1 });
    expect(record?.reason).toBeUndefined();
  });

  it('throttling past the SDK retries delays the run: nothing is failed, the job is queued again', async () => {
    const h = harness();
    const ssm = source(h);
    let throttles = 1;
    const throttling: SsmSource = {
      describe: () => ssm.describe(),
      tags: (filter) => ssm.tags(filter),
      history: (name, after) => ssm.history(name, after),
      read: async (names) => {
        if (throttles-- > 0) throw new RetryLaterError('the source kept throttling');
        return ssm.read(names);
      },
    };

    const first = await runPull(h.ctx('ssm'), ssmSettings, { ssm: throttling });
    expect(first).toMatchObject({ changed: 0, failed: 0, continued: true });
    expect(h.continued).toEqual([{ job: { kind: 'ssm', account: ACCOUNT, region: REGION }, delaySeconds: 60 }]);
    expect(await h.records.list()).toEqual([]);

    const second = await runPull(h.ctx('ssm'), ssmSettings, { ssm: throttling });
    expect(second).toMatchObject({ changed: 2, failed: 0, continued: false });
  });

  it('throttling while listing delays the whole run: it is queued again and its run record says so', async () => {
    const h = harness();
    const ssm = source(h);
    const throttling: SsmSource = {
      describe: async () => {
        throw new RetryLaterError('the source kept throttling');
      },
      tags: (filter) => ssm.tags(filter),
      history: (name, after) => ssm.history(name, after),
      read: (names) => ssm.read(names),
    };
    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm: throttling });
    expect(summary).toMatchObject({ inScope: 0, continued: true, failed: 0 });
    expect(h.continued).toEqual([{ job: { kind: 'ssm', account: ACCOUNT, region: REGION }, delaySeconds: 60 }]);
    expect((await h.records.getRun('ssm', ACCOUNT, REGION))?.summary.continued).toBe(true);
  });

  it('past its deadline a run stops reading and continues in a new invocation', async () => {
    const h = harness();
    const ssm = source(h);
    const summary = await runPull(h.ctx('ssm', Date.parse(T0)), ssmSettings, { ssm });
    expect(summary).toMatchObject({ inScope: 2, changed: 0, continued: true, dataWrites: 0 });
    expect(h.continued).toEqual([{ job: { kind: 'ssm', account: ACCOUNT, region: REGION }, delaySeconds: 0 }]);
  });

  it('reads every page: 120 parameters are 3 Describe pages and 12 GetParameters calls of at most 10', async () => {
    const h = harness();
    const ssm = new MemorySsm(h.clock, ACCOUNT, REGION);
    for (let i = 0; i < 120; i += 1) ssm.put(`/app/p${String(i).padStart(3, '0')}`, `v${i}`, { tags: TAGGED });
    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    expect(summary).toMatchObject({ inScope: 120, changed: 120, dataWrites: 120 });
    expect(ssm.calls).toMatchObject({ describePages: 3, getParameters: 12, tagPages: 2 });
  });

  it('a run over 10,000 unchanged parameters is 200 Describe and 100 tag pages: no value read, no write', async () => {
    const h = harness();
    const ssm = new MemorySsm(h.clock, ACCOUNT, REGION);
    for (let i = 0; i < 10_000; i += 1) ssm.put(`/app/p${i}`, `v${i}`, { type: 'SecureString', tags: TAGGED });
    expect(await runPull(h.ctx('ssm'), ssmSettings, { ssm })).toMatchObject({ changed: 10_000, dataWrites: 10_000 });
    const calls = { ...ssm.calls };
    h.clock.advance(HOUR);

    const summary = await runPull(h.ctx('ssm'), ssmSettings, { ssm });

    expect(summary).toMatchObject({ inScope: 10_000, unchanged: 10_000, dataWrites: 0, nothingChanged: true });
    expect(h.store.writes).toBe(10_000);
    expect(ssm.calls).toEqual({
      ...calls,
      describePages: calls.describePages + 200,
      tagPages: calls.tagPages + 100,
    });
  });

  it('a kind not enabled in the settings, or without a source, is a clear error', async () => {
    const h = harness();
    const ssm = source(h);
    await expect(runPull(h.ctx('ssm'), {}, { ssm })).rejects.toThrow(
      new PullNotEnabledError('pull of ssm in 111111111111 eu-west-1: artifacts.ssm is not enabled'),
    );
    await expect(runPull(h.ctx('secrets'), secretsSettings, { ssm })).rejects.toThrow(
      'pull of secrets in 111111111111 eu-west-1: no Secrets Manager source was given',
    );
    expect(await h.records.getRun('ssm', ACCOUNT, REGION)).toBeUndefined();
  });
});

describe('pullSecrets', () => {
  function source(h: Harness) {
    const secrets = new MemorySecrets(h.clock, ACCOUNT, REGION);
    secrets.create('prod/db', 'secret-v1', TAGGED);
    h.clock.advance(1000);
    secrets.putValue('prod/db', 'secret-v2');
    secrets.create('prod/cert', Uint8Array.from([0, 1, 2, 250]), TAGGED);
    secrets.create('dev/db', 'not in scope', TAGGED);
    h.clock.advance(HOUR);
    return secrets;
  }

  it('stores the current and previous versions, text and binary, with their labels', async () => {
    const h = harness();
    const secrets = source(h);
    const summary = await runPull(h.ctx('secrets'), secretsSettings, { secrets });

    expect(summary).toMatchObject({ inScope: 2, changed: 2, dataWrites: 3, failed: 0 });
    expect([...h.store.objects.keys()].sort()).toEqual([
      'secrets/111111111111/eu-west-1/prod%2Fcert/20260301T000001.000Z-00000000-0000-4000-8000-000000000005.json',
      'secrets/111111111111/eu-west-1/prod%2Fdb/20260301T000000.000Z-00000000-0000-4000-8000-000000000002.json',
      'secrets/111111111111/eu-west-1/prod%2Fdb/20260301T000001.000Z-00000000-0000-4000-8000-000000000003.json',
    ]);
    const db = await h.records.get('secret:111111111111:eu-west-1:prod/db');
    expect(db).toMatchObject({
      state: 'held',
      valueType: 'string',
      count: 2,
      sourceArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/db-000001',
      heldVersionIds: ['00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003'],
    });
    expect(db?.latest).toMatchObject({ id: '00000000-0000-4000-8000-000000000003', labels: ['AWSCURRENT'] });
    const cert = await h.records.get('secret:111111111111:eu-west-1:prod/cert');
    expect(cert).toMatchObject({ valueType: 'binary', count: 1 });
    expect(await storedValue(h.store, cert?.latest?.objectKey ?? '')).toEqual(Uint8Array.from([0, 1, 2, 250]));
    const previous = await h.store.get(
      'secrets/111111111111/eu-west-1/prod%2Fdb/20260301T000000.000Z-00000000-0000-4000-8000-000000000002.json',
    );
    expect(previous && decodeValueObject(previous)).toMatchObject({ labels: ['AWSPREVIOUS'], valueType: 'string' });
  });

  it('an unchanged run reads no value and writes nothing; a rotation reads and writes only the new version', async () => {
    const h = harness();
    const secrets = source(h);
    await runPull(h.ctx('secrets'), secretsSettings, { secrets });
    const reads = secrets.calls.getSecretValue;

    expect(await runPull(h.ctx('secrets'), secretsSettings, { secrets })).toMatchObject({
      unchanged: 2,
      dataWrites: 0,
      nothingChanged: true,
    });
    expect(secrets.calls.getSecretValue).toBe(reads);

    secrets.putValue('prod/db', 'secret-v3');
    h.clock.advance(HOUR);
    expect(await runPull(h.ctx('secrets'), secretsSettings, { secrets })).toMatchObject({ changed: 1, dataWrites: 1 });
    expect(secrets.calls.getSecretValue).toBe(reads + 1);
    expect(await h.records.get('secret:111111111111:eu-west-1:prod/db')).toMatchObject({ count: 3 });
  });

  it('a secret it may not read is failed with the reason, the others are pulled; a deleted one is marked', async () => {
    const h = harness();
    const secrets = source(h);
    secrets.failReads('prod/cert', 'AccessDeniedException');
    expect(await runPull(h.ctx('secrets'), secretsSettings, { secrets })).toMatchObject({ changed: 1, failed: 1 });
    expect(await h.records.get('secret:111111111111:eu-west-1:prod/cert')).toMatchObject({
      state: 'failed',
      reason: 'AccessDeniedException: Access to the secret was denied.',
    });

    secrets.delete('prod/db');
    h.clock.advance(HOUR);
    expect(await runPull(h.ctx('secrets'), secretsSettings, { secrets })).toMatchObject({ deleted: 1, failed: 1 });
    expect(await h.records.get('secret:111111111111:eu-west-1:prod/db')).toMatchObject({
      state: 'deleted-at-source',
      deletedAt: '2026-03-01T02:00:01.000Z',
    });
  });
});

describe('restoreValues', () => {
  async function pulledHistory() {
    const h = harness();
    const ssm = new MemorySsm(h.clock, ACCOUNT, REGION);
    ssm.put('/app/db/url', 'postgres://db.111111111111.eu-west-1.example:5432/app', { tags: TAGGED });
    ssm.put('/app/db/password', 'password-1', { type: 'SecureString', tags: TAGGED });
    ssm.put('/app/gone', 'deleted later', { tags: TAGGED });
    await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    h.clock.advance(HOUR); // 01:00
    ssm.put('/app/db/password', 'password-2', { type: 'SecureString', overwrite: true });
    ssm.put('/app/new', 'made later', { tags: TAGGED });
    ssm.delete('/app/gone');
    h.clock.advance(HOUR); // 02:00
    await runPull(h.ctx('ssm'), ssmSettings, { ssm });
    return { h, deps: { store: h.store, records: h.records, fingerprint: hmacFingerprint(FINGERPRINT_KEY) } };
  }

  it('--at an earlier time restores the earlier values under a prefix, and each reads back equal', async () => {
    const { h, deps } = await pulledHistory();
    const target = new MemorySsm(h.clock, TARGET_ACCOUNT, REGION);
    const progress: string[] = [];

    const summary = await restoreValues(
      {
        ...deps,
        target: target.target(),
        progress: (p) => progress.push(`${p.done}/${p.total} ${p.value.targetName}`),
      },
      { kind: 'ssm', account: ACCOUNT, region: REGION, at: '2026-03-01T00:30:00.000Z', targetPrefix: '/restored/' },
    );

    expect(summary).toMatchObject({ planned: 3, written: 3, equal: 3, mismatched: 0, failed: 0, ok: true });
    expect(target.current('/restored/app/db/password')).toEqual({
      type: 'SecureString',
      value: 'password-1',
      version: 1,
    });
    expect(target.current('/restored/app/gone')?.value).toBe('deleted later');
    expect(target.current('/restored/app/new')).toBeUndefined();
    expect(summary.skippedNotYet).toBe(1);
    expect(progress).toEqual(['1/3 /restored/app/db/password', '2/3 /restored/app/db/url', '3/3 /restored/app/gone']);
  });

  it('without --at restores the newest values and skips what was deleted at the source; --path narrows', async () => {
    const { h, deps } = await pulledHistory();
    const target = new MemorySsm(h.clock, TARGET_ACCOUNT, REGION);
    const summary = await restoreValues(
      { ...deps, target: target.target() },
      { kind: 'ssm', account: ACCOUNT, region: REGION, namePrefix: '/app/' },
    );
    expect(summary).toMatchObject({ planned: 3, equal: 3, skippedDeleted: 1, ok: true });
    expect(target.current('/app/db/password')?.value).toBe('password-2');
    expect(target.current('/app/gone')).toBeUndefined();

    const narrowed = await restoreValues(
      { ...deps, target: new MemorySsm(h.clock).target() },
      { kind: 'ssm', account: ACCOUNT, region: REGION, namePrefix: '/app/db/' },
    );
    expect(narrowed.values.map((v) => v.name)).toEqual(['/app/db/password', '/app/db/url']);
  });

  it('rewrites identifiers inside the values it restores', async () => {
    const { h, deps } = await pulledHistory();
    const target = new MemorySsm(h.clock, TARGET_ACCOUNT, 'eu-central-1');
    const summary = await restoreValues(
      { ...deps, target: target.target() },
      {
        kind: 'ssm',
        account: ACCOUNT,
        region: REGION,
        namePrefix: '/app/db/url',
        rewrites: parseRewrites(['111111111111=333333333333', 'eu-west-1=eu-central-1']),
      },
    );
    expect(summary).toMatchObject({ planned: 1, equal: 1, ok: true });
    expect(target.current('/app/db/url')?.value).toBe('postgres://db.333333333333.eu-central-1.example:5432/app');
  });

  it('fails when a stored value does not match its checksum, or the target reads back something else', async () => {
    const { h, deps } = await pulledHistory();
    const key = 'ssm/111111111111/eu-west-1/%2Fapp%2Fdb%2Furl/20260301T000000.000Z-1.json';
    const body = JSON.parse(new TextDecoder().decode(h.store.objects.get(key)));
    h.store.objects.set(key, new TextEncoder().encode(JSON.stringify({ ...body, data: 'tampered' })));
    const lying: ValueTarget = { write: async () => {}, read: async () => SecretValue.text('something else') };

    const summary = await restoreValues({ ...deps, target: lying }, { kind: 'ssm', account: ACCOUNT, region: REGION });

    expect(summary).toMatchObject({ planned: 3, written: 2, equal: 0, mismatched: 2, failed: 1, ok: false });
    expect(summary.values.find((v) => v.name === '/app/db/url')).toMatchObject({
      outcome: 'failed',
      reason: 'the stored value does not match its checksum',
    });
  });

  it('restores a binary secret as binary and a text secret as text', async () => {
    const h = harness();
    const secrets = new MemorySecrets(h.clock, ACCOUNT, REGION);
    secrets.create('prod/cert', Uint8Array.from([0, 1, 2, 250]), TAGGED);
    secrets.create('prod/db', 'secret-v1', TAGGED);
    await runPull(h.ctx('secrets'), secretsSettings, { secrets });
    const target = new MemorySecrets(h.clock, TARGET_ACCOUNT, REGION);
    const summary = await restoreValues(
      { store: h.store, records: h.records, fingerprint: hmacFingerprint(FINGERPRINT_KEY), target: target.target() },
      { kind: 'secrets', account: ACCOUNT, region: REGION },
    );
    expect(summary).toMatchObject({ planned: 2, equal: 2, ok: true });
    expect(target.current('prod/cert')).toEqual(Uint8Array.from([0, 1, 2, 250]));
    expect(target.current('prod/db')).toBe('secret-v1');
  });

  it('of two secret versions made in the same instant, plans the one that was current', async () => {
    const store = new MemoryVaultStore();
    const records = new MemoryPulledInventory();
    const prefix = 'secrets/111111111111/eu-west-1/prod%2Ftie/20260301T000000.000Z-';
    // The current version's id sorts first: key order alone would pick the previous one.
    await store.putOnce(`${prefix}a-current.json`, new Uint8Array([1]));
    await store.putOnce(`${prefix}z-previous.json`, new Uint8Array([2]));
    await records.create({
      artifactId: 'secret:111111111111:eu-west-1:prod/tie',
      kind: 'secret',
      pullScope: 'secret:111111111111:eu-west-1',
      state: 'held',
      sourceAccount: ACCOUNT,
      sourceRegion: REGION,
      sourceId: 'prod/tie',
      latest: { id: 'a-current', modifiedAt: T0, pulledAt: T0, objectKey: `${prefix}a-current.json`, checksum: 'x' },
      createdAt: T0,
      updatedAt: T0,
      version: 1,
    });
    const plan = await planValueRestore({ store, records }, { kind: 'secrets', account: ACCOUNT, region: REGION });
    expect(plan.values.map((v) => v.versionId)).toEqual(['a-current']);
  });

  it('joins a prefix and a name with one slash', () => {
    expect(targetNameOf('/app/db', '/restored/')).toBe('/restored/app/db');
    expect(targetNameOf('/app/db', '/restored')).toBe('/restored/app/db');
    expect(targetNameOf('db', 'restored-')).toBe('restored-db');
    expect(targetNameOf('/app/db')).toBe('/app/db');
  });
});

describe('no value in any log line or inventory record', () => {
  const CANARY_PARAMETER = 'canary-parameter-7f3a9c';
  const CANARY_SECRET = 'canary-secret-51be02';

  it('holds for a pull, a failed pull, a deletion and a restore', async () => {
    const h = harness();
    const ssm = new MemorySsm(h.clock, ACCOUNT, REGION);
    ssm.put('/app/canary', CANARY_PARAMETER, { type: 'SecureString', tags: TAGGED });
    ssm.put('/app/failing', CANARY_PARAMETER, { type: 'SecureString', tags: TAGGED });
    ssm.failReads('/app/failing', 'KMS.DisabledException');
    const secrets = new MemorySecrets(h.clock, ACCOUNT, REGION);
    secrets.create('prod/canary', CANARY_SECRET, TAGGED);
    const settings = { ...ssmSettings, ...secretsSettings };

    await runPull(h.ctx('ssm'), settings, { ssm });
    await runPull(h.ctx('secrets'), settings, { secrets });
    ssm.delete('/app/canary');
    h.clock.advance(HOUR);
    await runPull(h.ctx('ssm'), settings, { ssm });
    const progress: string[] = [];
    const summary = await restoreValues(
      {
        store: h.store,
        records: h.records,
        fingerprint: hmacFingerprint(FINGERPRINT_KEY),
        target: new MemorySecrets(h.clock).target(),
        progress: (p) => progress.push(JSON.stringify(p), inspect(p, { depth: 10 })),
      },
      { kind: 'secrets', account: ACCOUNT, region: REGION },
    );

    const everything = [
      ...h.lines,
      ...progress,
      JSON.stringify(summary),
      JSON.stringify([...h.records.records.values()]),
      JSON.stringify([...h.records.runs.values()]),
    ].join('\n');
    expect(h.lines.length).toBeGreaterThan(3);
    expect(everything).not.toContain(CANARY_PARAMETER);
    expect(everything).not.toContain(CANARY_SECRET);
    // The values were pulled: the store (encrypted at rest) holds them.
    const stored = [...h.store.objects.values()].map((b) => new TextDecoder().decode(b)).join('\n');
    expect(stored).toContain(CANARY_PARAMETER);
    expect(stored).toContain(CANARY_SECRET);
  });
});

describe('SecretValue', () => {
  const CANARY = 'canary-redaction-0d41e7';

  it('redacts itself under String, templates, JSON, util.inspect and console formatting', () => {
    for (const value of [SecretValue.text(CANARY), SecretValue.binary(new TextEncoder().encode(CANARY))]) {
      const shown = [
        String(value),
        `${value}`,
        `${{ value }.value}`,
        'x' + value,
        JSON.stringify({ value }),
        inspect(value),
        inspect({ nested: { value } }, { depth: 10 }),
        format('%s %o %O %j', value, value, { value }, { value }),
      ];
      for (const text of shown) {
        expect(text).not.toContain(CANARY);
        expect(text).toContain('[redacted]');
      }
    }
  });

  it('redacts itself in console.log and in Powertools Logger lines', () => {
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      const value = SecretValue.text(CANARY);
      // A console of its own on the captured stdout: vitest replaces the global one.
      const console = new Console({ stdout: process.stdout, stderr: process.stderr });
      console.log('value %s', value, value, { value });
      console.error({ nested: { value } });
      const logger = new Logger({ serviceName: 'redaction-test' });
      logger.info('a value', { value, nested: { value } });
      logger.warn('as message', { text: `${value}` });
      logger.error('as error', new Error(`failed for ${value}`));
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    const all = written.join('');
    expect(all).toContain('value [redacted] [redacted] { value: [redacted] }');
    expect(all).toContain('a value');
    expect(all).toContain('[redacted]');
    expect(all).not.toContain(CANARY);
  });
});
