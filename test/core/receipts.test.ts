/**
 * Receipts: once the backup account holds a copy, the vault tells the
 * source agent, so the agent may delete its intermediate; a receipt that
 * did not go out is sent again by the sweep, and none is sent twice.
 */
import { describe, expect, it } from 'vitest';
import { sweepCopies } from '../../lambdas/core/pipeline/completion';
import { parseReceipt } from '../../lambdas/core/receipts';
import { COPY_MS, vaultFixture } from './support/memory-fixtures';

const ID = 'bunker-share-orders';
const ARTIFACT = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders';

describe('receipts', () => {
  it('tells the source agent once the copy is available, naming the intermediate it may delete', async () => {
    const v = vaultFixture();
    await v.announce(ID);
    v.clock.advance(COPY_MS);

    expect(v.receipts.sent).toEqual([]);
    await sweepCopies(v.deps);
    await sweepCopies(v.deps);

    expect(v.receipts.sent).toEqual([
      {
        version: 1,
        kind: 'rds-snapshot',
        account: '222222222222',
        region: 'eu-west-1',
        id: ID,
        copiedAt: '2026-03-01T04:40:00.000Z',
      },
    ]);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'available',
      receiptSentAt: '2026-03-01T04:40:00.000Z',
    });
  });

  it('sends a receipt that failed again at the next sweep, and only once', async () => {
    const v = vaultFixture();
    await v.announce(ID);
    v.clock.advance(COPY_MS);
    // Down for the settling write's receipt and the sweep's own retry of it.
    v.monitor.fail({ port: 'receipts', method: 'send' }, { times: 2 });

    const first = await sweepCopies(v.deps);
    const lost = v.inventory.peek(ARTIFACT);
    v.clock.advance(15 * 60_000);
    const second = await sweepCopies(v.deps);
    const third = await sweepCopies(v.deps);

    expect(first).toMatchObject({ available: 1, receiptsResent: 0 });
    expect(lost).toMatchObject({ status: 'available' });
    expect(lost?.receiptSentAt).toBeUndefined();
    expect(second.receiptsResent).toBe(1);
    expect(third.receiptsResent).toBe(0);
    expect(v.receipts.sent.map((r) => r.id)).toEqual([ID]);
    expect(v.inventory.peek(ARTIFACT)?.receiptSentAt).toBe('2026-03-01T04:55:00.000Z');
  });

  it('sends no receipt for a copy that failed', async () => {
    const v = vaultFixture({ world: { copyOutcome: () => 'failed' } });
    await v.announce(ID);
    v.clock.advance(COPY_MS);

    await sweepCopies(v.deps);

    expect(v.inventory.peek(ARTIFACT)?.status).toBe('failed');
    expect(v.receipts.sent).toEqual([]);
  });

  it.each([
    { name: 'not JSON', body: 'copied', reason: 'receipt is not JSON' },
    {
      name: 'an unknown key',
      body: '{"version":1,"kind":"ami","account":"222222222222","region":"eu-west-1","id":"ami-1","copiedAt":"2026-03-01T04:40:00Z","delete":"*"}',
      reason: 'receipt does not match the schema',
    },
    { name: 'another version', body: '{"version":2}', reason: 'receipt does not match the schema' },
    { name: 'a huge body', body: `"${'x'.repeat(3000)}"`, reason: 'receipt too large: 3002 characters' },
  ])('refuses a receipt that is $name', ({ body, reason }) => {
    expect(parseReceipt(body)).toEqual({ ok: false, reason });
  });
});
