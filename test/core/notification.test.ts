import { describe, expect, it } from 'vitest';
import {
  MAX_NOTIFICATION_BYTES,
  type ParsedNotification,
  parseNotification,
  rdsSnapshotNotification,
} from '../../lambdas/core/notification';

const SOURCE = '222222222222';
const SNAPSHOT_ARN = `arn:aws:rds:eu-west-1:${SOURCE}:snapshot:rds:orders-db-2026-03-01-04-10`;

const valid = () => ({
  version: 1,
  kind: 'rds-snapshot',
  sourceAccount: SOURCE,
  sourceRegion: 'eu-west-1',
  snapshotArn: SNAPSHOT_ARN,
  publishedAt: '2026-03-01T04:25:00.000Z',
});

/** The rejection of a body, or a failure if it was accepted. */
function rejectionOf(body: string): Extract<ParsedNotification, { ok: false }> {
  const result = parseNotification(body);
  if (result.ok) throw new Error(`expected a rejection, but ${body.slice(0, 80)} was accepted`);
  return result;
}

/** A body of exactly `bytes` bytes: a valid message padded with JSON whitespace. */
function paddedTo(bytes: number): string {
  const body = JSON.stringify(valid());
  return `${body}${' '.repeat(bytes - Buffer.byteLength(body, 'utf8'))}`;
}

describe('parseNotification', () => {
  it('accepts a valid v1 message', () => {
    const result = parseNotification(JSON.stringify(valid()));

    expect(result).toEqual({ ok: true, notification: valid() });
  });

  it('accepts a message of exactly the size limit', () => {
    expect(parseNotification(paddedTo(MAX_NOTIFICATION_BYTES)).ok).toBe(true);
  });

  it('rejects a message one byte over the limit, giving the size and the limit', () => {
    const rejection = rejectionOf(paddedTo(MAX_NOTIFICATION_BYTES + 1));

    expect(rejection.reason).toBe(
      `message too large: ${MAX_NOTIFICATION_BYTES + 1} bytes, limit ${MAX_NOTIFICATION_BYTES}`,
    );
  });

  it('measures the size in UTF-8 bytes, not in characters', () => {
    const body = JSON.stringify({ ...valid(), padding: '€'.repeat(1500) });
    expect(body.length).toBeLessThan(MAX_NOTIFICATION_BYTES);

    expect(rejectionOf(body).reason).toBe(
      `message too large: ${Buffer.byteLength(body, 'utf8')} bytes, limit ${MAX_NOTIFICATION_BYTES}`,
    );
  });

  it.each([
    { name: 'an empty body', body: '' },
    { name: 'plain text', body: 'snapshot ready' },
    { name: 'truncated JSON', body: JSON.stringify(valid()).slice(0, 40) },
    { name: 'JSON with a trailing comma', body: '{"version":1,}' },
  ])('rejects $name as not JSON', ({ body }) => {
    expect(rejectionOf(body).reason).toBe('message is not JSON');
  });

  it.each([
    { name: 'a JSON array', body: '[]', received: 'array' },
    { name: 'JSON null', body: 'null', received: 'null' },
    { name: 'a JSON number', body: '42', received: 'number' },
    { name: 'a JSON string', body: '"rds-snapshot"', received: 'string' },
  ])('rejects $name as not a message object', ({ body, received }) => {
    const rejection = rejectionOf(body);

    expect(rejection.reason).toContain('message does not match notification schema v1');
    expect(rejection.reason).toContain(`(message): Invalid input: expected object, received ${received}`);
    expect(rejection.sourceAccount).toBeUndefined();
  });

  it.each([
    { name: 'an unknown version', change: { version: 2 }, field: 'version: expected version 1' },
    { name: 'a version given as a string', change: { version: '1' }, field: 'version: expected version 1' },
    {
      name: 'an unknown kind',
      change: { kind: 'ebs-snapshot' },
      field: 'kind: expected kind "rds-snapshot"',
    },
    { name: 'an extra key', change: { restoreTo: 'attacker' }, field: '(message): unknown keys restoreTo' },
    { name: 'a missing snapshot ARN', change: { snapshotArn: undefined }, field: 'snapshotArn:' },
    {
      name: 'a cluster snapshot ARN',
      change: { snapshotArn: `arn:aws:rds:eu-west-1:${SOURCE}:cluster-snapshot:rds:orders-2026-03-01` },
      field: 'snapshotArn: expected an RDS DB snapshot ARN',
    },
    {
      name: 'an ARN that is not an RDS snapshot',
      change: { snapshotArn: `arn:aws:ec2:eu-west-1:${SOURCE}:snapshot/snap-0123` },
      field: 'snapshotArn: expected an RDS DB snapshot ARN',
    },
    {
      name: 'a malformed account',
      change: { sourceAccount: '2222' },
      field: 'sourceAccount: expected a 12-digit account id',
    },
    {
      name: 'an account given as a number',
      change: { sourceAccount: 222222222222 },
      field: 'sourceAccount:',
    },
    {
      name: 'a malformed Region',
      change: { sourceRegion: 'Ireland' },
      field: 'sourceRegion: expected a Region name',
    },
    {
      name: 'a malformed publishedAt',
      change: { publishedAt: 'yesterday' },
      field: 'publishedAt: expected an ISO 8601 date-time',
    },
    { name: 'a publishedAt as epoch millis', change: { publishedAt: 1772338800000 }, field: 'publishedAt:' },
  ])('rejects $name and names the offending field', ({ change, field }) => {
    const rejection = rejectionOf(JSON.stringify({ ...valid(), ...change }));

    expect(rejection.reason).toMatch(/^message does not match notification schema v1: /);
    expect(rejection.reason).toContain(field);
  });

  it('lists every offending field of a message', () => {
    const rejection = rejectionOf(JSON.stringify({ ...valid(), version: 3, sourceRegion: '', publishedAt: 'now' }));

    expect(rejection.reason).toContain('version:');
    expect(rejection.reason).toContain('sourceRegion:');
    expect(rejection.reason).toContain('publishedAt:');
    expect(rejection.reason).not.toContain('snapshotArn:');
  });

  it.each([
    { name: 'a valid 12-digit account', sourceAccount: SOURCE, surfaced: SOURCE },
    { name: 'a short account', sourceAccount: '2222', surfaced: undefined },
    { name: 'an account with letters', sourceAccount: '22222222222x', surfaced: undefined },
    { name: 'an account as a number', sourceAccount: 222222222222, surfaced: undefined },
    { name: 'an account with a newline after it', sourceAccount: `${SOURCE}\n`, surfaced: undefined },
    { name: 'no account', sourceAccount: undefined, surfaced: undefined },
  ])('surfaces the claimed account of a schema failure only when it is $name', ({ sourceAccount, surfaced }) => {
    const rejection = rejectionOf(JSON.stringify({ ...valid(), version: 2, sourceAccount }));

    expect(rejection.sourceAccount).toBe(surfaced);
  });

  it('surfaces no account for a message that is too large or not JSON', () => {
    const tooLarge = JSON.stringify({ ...valid(), padding: 'x'.repeat(MAX_NOTIFICATION_BYTES) });
    const notJson = `${JSON.stringify(valid())}}`;

    expect(rejectionOf(tooLarge).sourceAccount).toBeUndefined();
    expect(rejectionOf(notJson).sourceAccount).toBeUndefined();
  });

  it('surfaces no account hidden behind a __proto__ key', () => {
    const body = `{"__proto__":{"sourceAccount":"${SOURCE}"},"version":1}`;

    const rejection = rejectionOf(body);

    expect(rejection.sourceAccount).toBeUndefined();
    expect(rejection.reason).toContain('unknown keys __proto__');
  });

  const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const withKey = (key: string, value: string) => JSON.stringify(valid()).replace(/^\{/, `{"${key}":${value},`);

  it.each([
    { name: 'arrays nested to the size limit', body: deepArray(MAX_NOTIFICATION_BYTES / 2) },
    { name: 'arrays nested far past the size limit', body: deepArray(100_000) },
    { name: 'objects nested to the size limit', body: deepObject(Math.floor(MAX_NOTIFICATION_BYTES / 6)) },
    { name: 'a deeply nested extra key', body: withKey('extra', deepObject(600)) },
    { name: 'a __proto__ key', body: withKey('__proto__', '{"polluted":true}') },
    { name: 'a constructor key', body: withKey('constructor', '{"prototype":{"polluted":true}}') },
    { name: 'a __proto__ version', body: '{"__proto__":{"version":1,"kind":"rds-snapshot"}}' },
    {
      name: 'a huge version number',
      body: JSON.stringify(valid()).replace('"version":1', '"version":1e400'),
    },
    { name: 'a huge integer account', body: JSON.stringify(valid()).replace(`"${SOURCE}"`, '2'.repeat(400)) },
    { name: 'a negative zero version', body: JSON.stringify(valid()).replace('"version":1', '"version":-0') },
    { name: 'emoji in the Region', body: JSON.stringify({ ...valid(), sourceRegion: 'eu-west-🙂' }) },
    { name: 'a raw lone surrogate', body: `{"kind":"\ud800"}` },
    { name: 'an escaped lone surrogate', body: JSON.stringify(valid()).replace('rds-snapshot', '\\ud800') },
    {
      name: 'a NUL character in the ARN',
      body: JSON.stringify({ ...valid(), snapshotArn: `${SNAPSHOT_ARN}\u0000` }),
    },
    { name: 'a byte-order mark', body: `\ufeff${JSON.stringify(valid())}` },
    {
      name: 'an ARN far longer than allowed',
      body: JSON.stringify({ ...valid(), snapshotArn: `${SNAPSHOT_ARN}${'a'.repeat(600)}` }),
    },
    { name: 'only whitespace', body: ' \n\t ' },
    { name: 'a boolean', body: 'true' },
  ])('rejects $name without throwing', ({ body }) => {
    let result: ParsedNotification | undefined;

    expect(() => {
      result = parseNotification(body);
    }).not.toThrow();
    expect(result?.ok).toBe(false);
    expect(result?.ok === false && result.reason.length > 0).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('rdsSnapshotNotification', () => {
  it('builds a v1 message that parseNotification accepts unchanged', () => {
    const notification = rdsSnapshotNotification({
      sourceAccount: SOURCE,
      sourceRegion: 'eu-west-1',
      snapshotArn: SNAPSHOT_ARN,
      publishedAt: new Date('2026-03-01T04:25:00Z'),
    });

    expect(notification).toEqual(valid());
    expect(parseNotification(JSON.stringify(notification))).toEqual({ ok: true, notification });
  });

  it('builds a message far below the size limit', () => {
    const notification = rdsSnapshotNotification({
      sourceAccount: SOURCE,
      sourceRegion: 'eu-west-1',
      snapshotArn: `arn:aws:rds:eu-west-1:${SOURCE}:snapshot:${'a'.repeat(255)}`,
      publishedAt: new Date(),
    });

    expect(Buffer.byteLength(JSON.stringify(notification), 'utf8')).toBeLessThan(MAX_NOTIFICATION_BYTES / 4);
  });

  it('refuses to build a message for a cluster snapshot', () => {
    expect(() =>
      rdsSnapshotNotification({
        sourceAccount: SOURCE,
        sourceRegion: 'eu-west-1',
        snapshotArn: `arn:aws:rds:eu-west-1:${SOURCE}:cluster-snapshot:orders`,
        publishedAt: new Date(),
      }),
    ).toThrow(/expected an RDS DB snapshot ARN/);
  });
});
