/**
 * The table `bunker inventory` prints: it fits 120 columns, never cuts an
 * identifier, shows when production took each snapshot, and never hands
 * the operator's terminal a control character from a record.
 */
import { describe, expect, it } from 'vitest';
import { inventoryTable, pulledTable } from '../../cli/inventory';
import { type InventoryRecord, newRecord } from '../../lambdas/core/inventory';
import type { PulledRecord } from '../../lambdas/core/pull/types';

const T = new Date('2026-03-01T04:30:00.000Z');
const LONG_ID = `bunker-share-${'orders-db-nightly-'.repeat(8)}0123456789`;

const copy: InventoryRecord = {
  ...newRecord(
    {
      artifactId: `rds-snapshot:222222222222:eu-west-1:${LONG_ID}`,
      kind: 'rds-snapshot',
      status: 'available',
      reason: undefined,
      sourceAccount: '222222222222',
      sourceRegion: 'eu-west-1',
      sourceId: LONG_ID,
      sourceResourceId: 'orders-db',
      sourceSnapshotId: 'rds:orders-db-2026-03-01-04-10',
      sourceCreatedAt: '2026-03-01T04:10:07.000Z',
      targetName: 'bunker-222222222222-orders-db-nightly-0a1b2c3d4e',
      targetId: 'bunker-222222222222-orders-db-nightly-0a1b2c3d4e',
      targetRegion: 'eu-west-1',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
    },
    T,
  ),
};
const hostile: InventoryRecord = newRecord(
  {
    artifactId: 'rejected:0123456789abcdef0123456789abcdef',
    kind: 'unknown',
    status: 'rejected',
    reason: 'names \u001b]0;pwned\u0007\u001b[2J and \u202eevil',
    sourceAccount: '222222222222',
  },
  T,
);

/** Everything one column shows, its wrapped lines joined back together. */
function column(table: string, index: number): string {
  return table
    .split('\n')
    .filter((line) => line.startsWith('│'))
    .map((line) => (line.split('│')[index + 1] ?? '').trim())
    .join('');
}

describe('inventoryTable', () => {
  it('fits 120 columns', () => {
    const lines = inventoryTable([copy, hostile]).split('\n');

    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(120);
  });

  it('shows every identifier whole, wrapped rather than cut', () => {
    const text = inventoryTable([copy]);

    expect(column(text, 2)).toBe(`Sourceorders-db${copy.sourceSnapshotId}`);
    expect(column(text, 4)).toBe('Copybunker-222222222222-orders-db-nightly-0a1b2c3d4e');
  });

  it('shows the kind by its config name and when production took the snapshot', () => {
    const text = inventoryTable([copy]);

    expect(column(text, 0)).toBe('Statusavailablerds');
    expect(column(text, 3)).toBe('Taken (UTC)2026-03-0104:10');
  });

  it('escapes control characters and bidirectional overrides instead of printing them', () => {
    const text = inventoryTable([hostile]);

    expect([...text].filter((c) => c.charCodeAt(0) < 0x20 && c !== '\n')).toEqual([]);
    expect(text).not.toContain('\u202e');
    expect(column(text, 5).replace(/\s/g, '')).toContain('\\u001b]0;pwned\\u0007\\u001b[2J');
  });

  it('adds the copy Region, key and last update in the wide layout', () => {
    const text = inventoryTable([copy], { wide: true });

    expect(text).toContain('Copy Region');
    expect(column(text, 6)).toBe(`Key${copy.kmsKeyArn}`);
    expect(inventoryTable([copy])).not.toContain('Copy Region');
  });

  it('says so when nothing matches', () => {
    expect(inventoryTable([])).toBe('The inventory holds no records matching the filter.');
  });
});

describe('pulledTable', () => {
  const parameter: PulledRecord = {
    artifactId: 'ssm-parameter:222222222222:eu-west-1:/payments/db/password',
    kind: 'ssm-parameter',
    pullScope: 'ssm-parameter:222222222222:eu-west-1',
    state: 'deleted-at-source',
    sourceAccount: '222222222222',
    sourceRegion: 'eu-west-1',
    sourceId: '/payments/db/password',
    valueType: 'SecureString',
    count: 3,
    checksum: 'hmac-sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    lastChangedAt: '2026-03-01T04:10:07.000Z',
    deletedAt: '2026-03-02T05:20:00.000Z',
    createdAt: '2026-03-01T04:10:07.000Z',
    updatedAt: '2026-03-02T05:20:00.000Z',
    version: 4,
  };

  it('shows each resource with its state, count, a short checksum and when it was first seen missing', () => {
    const text = pulledTable([parameter]);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    expect(text).toContain('deleted-at-source');
    expect(text).toContain('/payments/db/password');
    expect(text).toContain('9f86d081884c');
    expect(text).not.toContain('9f86d081884c7');
    expect(text).toContain('2026-03-02');
    expect(text.split('\n').at(-1)).toBe('1 pulled resource(s): 1 deleted-at-source');
  });

  it('says so when nothing was pulled', () => {
    expect(pulledTable([])).toBe('The inventory holds no pulled backups matching the filter.');
  });
});
