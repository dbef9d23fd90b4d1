/**
 * What `bunker local run` prints after the pruner ran: its counts, and each
 * copy it expired on a line of its own with the policy that expired it,
 * text from outside escaped.
 */
import { describe, expect, it } from 'vitest';
import { describePrune } from '../../cli/local/run';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import type { PruneSummary } from '../../lambdas/core/retention/prune';

const summary: PruneSummary = {
  expired: 2,
  locked: 1,
  refused: 0,
  notBunkers: 1,
  versionsDeleted: 3,
  versionsKept: 0,
  dumpsDeleted: 1,
  dumpObjectsKept: 0,
};

const expired = (targetId: string, reason: string): InventoryRecord =>
  ({
    artifactId: `rds-snapshot:222222222222:eu-west-1:${targetId}`,
    kind: 'rds-snapshot',
    status: 'expired',
    sourceAccount: '222222222222',
    sourceRegion: 'eu-west-1',
    targetId,
    reason,
  }) as InventoryRecord;

describe('the pruner line of bunker local run', () => {
  it('gives the counts, then one line per expired copy', () => {
    expect(
      describePrune(summary, [
        expired('bunker-222222222222-orders-1-0a1b2c3d4e', 'older than 30 days, beyond the newest 2 copies of orders'),
        expired('bunker-222222222222-orders-2-5f6a7b8c9d', 'older than 30 days, beyond the newest 2 copies of orders'),
      ]),
    ).toBe(
      "pruner: 2 copy(ies) expired, 2 due but kept (1 locked, 0 refused, 1 not Bunker's), 3 value version(s) and 1 table dump(s) expired\n" +
        '    expired: rds-snapshot bunker-222222222222-orders-1-0a1b2c3d4e of 222222222222/eu-west-1 (older than 30 days, beyond the newest 2 copies of orders)\n' +
        '    expired: rds-snapshot bunker-222222222222-orders-2-5f6a7b8c9d of 222222222222/eu-west-1 (older than 30 days, beyond the newest 2 copies of orders)',
    );
  });

  it('escapes control characters in what the inventory holds', () => {
    const line = describePrune(summary, [expired('bunker-x\u001b[2J', 'old\u0007')]).split('\n')[1];
    expect(line).not.toContain('\u001b');
    expect(line).not.toContain('\u0007');
  });
});
