import { describe, expect, it } from 'vitest';
import {
  MAX_DELIVERY_BYTES,
  MAX_NOTIFICATION_BYTES,
  notificationOf,
  type ParsedNotification,
  parseDelivery,
  parseNotification,
} from '../../lambdas/core/notification';
import { snsEnvelope } from '../../sim/memory-aws';

const SOURCE = '222222222222';
const SNAPSHOT_ID = 'bunker-share-orders-db-2026-03-01-04-10-0a1b2c3d4e';
const SNAPSHOT_ARN = `arn:aws:rds:eu-west-1:${SOURCE}:snapshot:${SNAPSHOT_ID}`;
const TOPIC = `arn:aws:sns:eu-west-1:111111111111:bunker-intake-${SOURCE}`;

/** The subject a valid v1 or v2 message names. */
const SUBJECT = {
  kind: 'rds-snapshot',
  sourceAccount: SOURCE,
  sourceRegion: 'eu-west-1',
  id: SNAPSHOT_ID,
};

const validV2 = () => ({
  version: 2,
  kind: 'rds-snapshot',
  sourceAccount: SOURCE,
  sourceRegion: 'eu-west-1',
  id: SNAPSHOT_ID,
  publishedAt: '2026-03-01T04:25:00.000Z',
});

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
  it('accepts a valid v1 message, reading the snapshot from its ARN', () => {
    const result = parseNotification(JSON.stringify(valid()));

    expect(result).toEqual({
      ok: true,
      subject: {
        version: 1,
        ...SUBJECT,
        arn: { kind: 'rds-snapshot', partition: 'aws', account: SOURCE, region: 'eu-west-1', id: SNAPSHOT_ID },
      },
    });
  });

  it('accepts a valid v2 message', () => {
    expect(parseNotification(JSON.stringify(validV2()))).toEqual({ ok: true, subject: { version: 2, ...SUBJECT } });
  });

  it.each([
    { kind: 'aurora-cluster-snapshot', id: 'bunker-share-ledger-0a1b2c3d4e' },
    { kind: 'ebs-snapshot', id: 'snap-0123456789abcdef0' },
    { kind: 'ami', id: 'ami-0123456789abcdef0' },
  ])('accepts a v2 message of kind $kind', ({ kind, id }) => {
    const result = parseNotification(JSON.stringify({ ...validV2(), kind, id }));

    expect(result).toEqual({ ok: true, subject: { ...SUBJECT, version: 2, kind, id } });
  });

  it.each([
    {
      name: 'an EBS id given for an AMI',
      change: { kind: 'ami', id: 'snap-0123456789abcdef0' },
      field: 'id: expected the id of an AMI',
    },
    { name: 'an unknown kind', change: { kind: 'dynamodb-table' }, field: 'kind: expected kind to be one of' },
    {
      name: 'an RDS ARN where an id belongs',
      change: { id: SNAPSHOT_ARN },
      field: 'id: expected the id of an RDS DB snapshot',
    },
    { name: 'a missing id', change: { id: undefined }, field: 'id:' },
    {
      name: 'a v1 snapshotArn in a v2 message',
      change: { snapshotArn: SNAPSHOT_ARN },
      field: '1 unknown key(s), first "snapshotArn"',
    },
  ])('rejects a v2 message with $name', ({ change, field }) => {
    const rejection = rejectionOf(JSON.stringify({ ...validV2(), ...change }));

    expect(rejection.reason).toMatch(/^message does not match notification schema v2: /);
    expect(rejection.reason).toContain(field);
  });

  it.each([
    { name: 'Z', publishedAt: '2026-03-01T04:25:00Z' },
    { name: '+00:00', publishedAt: '2026-03-01T04:25:00+00:00' },
    { name: 'milliseconds and +00:00', publishedAt: '2026-03-01T04:25:00.123+00:00' },
  ])('accepts publishedAt in the UTC form with $name (informative only)', ({ publishedAt }) => {
    expect(parseNotification(JSON.stringify({ ...validV2(), publishedAt })).ok).toBe(true);
  });

  it('counts unknown keys and shows only the first, escaped and cut, never the raw text', () => {
    const hostileKey = '\u001b]0;pwned\u0007\u001b[2J';
    const body = JSON.stringify({ ...validV2(), [hostileKey]: 1, ['k'.repeat(500)]: 2, third: 3 });

    const { reason } = rejectionOf(body);

    expect(reason).toContain('3 unknown key(s), first "\\u001b]0;pwned\\u0007\\u001b[2J"');
    expect([...reason].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)).toBe(false);
    expect(reason).not.toContain('k'.repeat(41));
    expect(reason.length).toBeLessThan(300);
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
    { name: 'a JSON array', body: '[]', shown: 'none' },
    { name: 'JSON null', body: 'null', shown: 'none' },
    { name: 'a JSON number', body: '42', shown: 'none' },
    { name: 'a JSON string', body: '"rds-snapshot"', shown: 'none' },
    { name: 'a version given as a string', body: '{"version":"1"}', shown: 'string' },
    { name: 'version 3', body: '{"version":3}', shown: '3' },
  ])('rejects $name as an unsupported version', ({ body, shown }) => {
    expect(rejectionOf(body)).toEqual({
      ok: false,
      reason: `unsupported notification version ${shown}; supported: 1, 2`,
    });
  });

  it.each([
    {
      name: 'a v1 message of another kind',
      change: { kind: 'ebs-snapshot' },
      field: 'kind: expected kind "rds-snapshot"',
    },
    {
      name: 'an extra key',
      change: { restoreTo: 'attacker' },
      field: '(message): 1 unknown key(s), first "restoreTo"',
    },
    { name: 'a missing snapshot ARN', change: { snapshotArn: undefined }, field: 'snapshotArn:' },
    {
      name: 'a cluster snapshot ARN',
      change: { snapshotArn: `arn:aws:rds:eu-west-1:${SOURCE}:cluster-snapshot:orders-2026-03-01` },
      field: 'snapshotArn: expected an RDS DB snapshot ARN',
    },
    {
      name: 'an automated snapshot ARN (never shareable)',
      change: { snapshotArn: `arn:aws:rds:eu-west-1:${SOURCE}:snapshot:rds:orders-2026-03-01` },
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
    const rejection = rejectionOf(JSON.stringify({ ...valid(), kind: 'x', sourceRegion: '', publishedAt: 'now' }));

    expect(rejection.reason).toContain('kind:');
    expect(rejection.reason).toContain('sourceRegion:');
    expect(rejection.reason).toContain('publishedAt:');
    expect(rejection.reason).not.toContain('snapshotArn:');
  });

  it("carries no account in a rejection: who sent it is the transport's to say", () => {
    const rejection = rejectionOf(JSON.stringify({ ...validV2(), sourceRegion: 'Ireland' }));

    expect(Object.keys(rejection).sort()).toEqual(['ok', 'reason']);
  });

  it('names a __proto__ key as unknown instead of reading through it', () => {
    const body = JSON.stringify(valid()).replace(/^\{/, `{"__proto__":{"sourceAccount":"${SOURCE}"},`);

    expect(rejectionOf(body).reason).toBe(
      'message does not match notification schema v1: (message): 1 unknown key(s), first "__proto__"',
    );
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

describe('notificationOf', () => {
  it('builds a v2 message that parseNotification accepts unchanged', () => {
    const notification = notificationOf({
      kind: 'rds-snapshot',
      sourceAccount: SOURCE,
      sourceRegion: 'eu-west-1',
      id: SNAPSHOT_ID,
      publishedAt: new Date('2026-03-01T04:25:00Z'),
    });

    expect(notification).toEqual(validV2());
    expect(parseNotification(JSON.stringify(notification))).toEqual({ ok: true, subject: { version: 2, ...SUBJECT } });
  });

  it('builds a message far below the size limit', () => {
    const notification = notificationOf({
      kind: 'rds-snapshot',
      sourceAccount: SOURCE,
      sourceRegion: 'eu-west-1',
      id: `a${'b'.repeat(254)}`,
      publishedAt: new Date(),
    });

    expect(Buffer.byteLength(JSON.stringify(notification), 'utf8')).toBeLessThan(MAX_NOTIFICATION_BYTES / 4);
  });

  it('refuses to build a message whose id is not of its kind', () => {
    expect(() =>
      notificationOf({
        kind: 'ebs-snapshot',
        sourceAccount: SOURCE,
        sourceRegion: 'eu-west-1',
        id: 'orders',
        publishedAt: new Date(),
      }),
    ).toThrow(/expected the id of an EBS snapshot/);
  });
});

describe('parseDelivery', () => {
  it('reads the topic and the message from the SNS envelope', () => {
    const message = JSON.stringify(validV2());

    expect(parseDelivery(snsEnvelope(TOPIC, message))).toEqual({ ok: true, topicArn: TOPIC, message });
  });

  it('leaves the message exactly as published: an envelope inside the message is not unwrapped', () => {
    const inner = snsEnvelope(TOPIC, JSON.stringify(validV2()));
    const delivered = parseDelivery(snsEnvelope(TOPIC, inner));

    expect(delivered).toEqual({ ok: true, topicArn: TOPIC, message: inner });
    expect(delivered.ok && parseNotification(delivered.message).ok).toBe(false);
  });

  it.each([
    {
      name: 'a bare notification (raw delivery)',
      body: JSON.stringify(validV2()),
      reason: 'delivery is not an SNS notification envelope',
    },
    { name: 'not JSON', body: 'hello', reason: 'delivery is not an SNS notification envelope (not JSON)' },
    {
      name: 'an envelope of another type',
      body: JSON.stringify({ Type: 'SubscriptionConfirmation', TopicArn: TOPIC, Message: '{}' }),
      reason: 'delivery is not an SNS notification envelope',
    },
    {
      name: 'an envelope without a topic',
      body: JSON.stringify({ Type: 'Notification', Message: '{}' }),
      reason: 'delivery is not an SNS notification envelope',
    },
  ])('rejects $name', ({ body, reason }) => {
    expect(parseDelivery(body)).toEqual({ ok: false, reason });
  });

  it('rejects a delivery over its size limit unread', () => {
    const body = snsEnvelope(TOPIC, 'x'.repeat(MAX_DELIVERY_BYTES));

    expect(parseDelivery(body)).toEqual({
      ok: false,
      reason: `delivery too large: ${Buffer.byteLength(body, 'utf8')} bytes, limit ${MAX_DELIVERY_BYTES}`,
    });
  });

  it('lets the message inside be size-checked as published: 6 KB passes the envelope, not the notification', () => {
    const message = JSON.stringify({ ...validV2(), padding: 'x'.repeat(6000) });
    const delivered = parseDelivery(snsEnvelope(TOPIC, message));

    expect(delivered.ok).toBe(true);
    expect(delivered.ok && parseNotification(delivered.message)).toEqual({
      ok: false,
      reason: `message too large: ${Buffer.byteLength(message, 'utf8')} bytes, limit ${MAX_NOTIFICATION_BYTES}`,
    });
  });
});
