/**
 * `bunker status` as a table: the account and its Region on two lines of one
 * cell (not an escaped newline), a resource id wrapped whole, and control
 * characters from outside shown as escapes.
 */
import { describe, expect, it } from 'vitest';
import type { AuditReport } from '../../lambdas/core/audit/types';
import { statusTable } from '../../cli/status';

const report: AuditReport = {
  at: '2026-03-01T06:00:00.000Z',
  resources: [
    {
      state: 'breach',
      kind: 'rds-snapshot',
      account: '222222222222',
      region: 'eu-west-1',
      resource: 'arn:aws:rds:eu-west-1:222222222222:db:orders-primary',
      newestCopyAt: '2026-02-28T04:10:00.000Z',
      ageHours: 26,
      rpoHours: 24,
      reason: 'late',
      detail: 'copy\u001b[2J older than the RPO',
    },
  ],
  transitions: [],
  failedCopies: 0,
  copiesWaitingOnQuota: 0,
  rejectedNotifications: 0,
  unreachable: ['333333333333/eu-west-1: AccessDenied\u0007'],
};

describe('the status table', () => {
  const text = statusTable(report);
  const rows = text.split('\n');

  it('shows the account and its Region on two lines of one cell', () => {
    expect(rows.some((row) => row.includes('222222222222'))).toBe(true);
    expect(rows.some((row) => /│ eu-west-1 +│/u.test(row))).toBe(true);
    expect(text).not.toContain('\\u000a');
  });

  it('wraps the resource id whole instead of cutting it short', () => {
    const resourceCells = rows.map((row) => row.split('│')[4]?.trim() ?? '').join('');
    expect(resourceCells).toContain('arn:aws:rds:eu-west-1:222222222222:db:orders-primary');
  });

  it('shows control characters from outside as escapes', () => {
    expect(text).toContain('\\u001b');
    expect(text).not.toContain('\u001b');
    expect(text).toContain('Could not list: 333333333333/eu-west-1: AccessDenied\\u0007');
    expect(text).toContain('1 resource(s) in scope at 2026-03-01T06:00:00.000Z: 1 breaching, 0 at risk, 0 ok.');
  });
});
