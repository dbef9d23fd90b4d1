/**
 * The HTML report's numbers and its escaping, without a browser (the
 * browser test is test/e2e/report-browser.test.ts).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { SessionOptions } from '../../cli/aws-session';
import { escapeHtml, freshnessSeries, type ReportCommandOptions, reportHtml } from '../../cli/report';
import { type InventoryRecord, newRecord } from '../../lambdas/core/inventory';

const NOW = new Date('2026-11-22T12:00:00.000Z');

function copy(resource: string, takenAt: string, completedAt: string, account = '222222222222'): InventoryRecord {
  return {
    ...newRecord(
      {
        artifactId: `rds-snapshot:${account}:eu-west-1:${resource}-${takenAt}`,
        kind: 'rds-snapshot',
        status: 'available',
        sourceAccount: account,
        sourceRegion: 'eu-west-1',
        sourceId: `${resource}-${takenAt}`,
        sourceResourceId: resource,
        sourceCreatedAt: takenAt,
      },
      new Date(completedAt),
    ),
    completedAt,
  };
}

describe('freshnessSeries', () => {
  it('is the worst age, per account and kind, of each resource newest copy available at each sample time', () => {
    const copies = [
      copy('orders-db', '2026-11-21T00:00:00.000Z', '2026-11-21T01:00:00.000Z'),
      copy('orders-db', '2026-11-22T00:00:00.000Z', '2026-11-22T02:00:00.000Z'),
      copy('ledger-db', '2026-11-20T12:00:00.000Z', '2026-11-20T13:00:00.000Z'),
    ];
    const series = freshnessSeries(copies, [], NOW, 1, 6);
    expect([...series.keys()]).toEqual(['222222222222|rds-snapshot']);
    // Samples at 12:00 on the 21st, 18:00, 00:00, 06:00 and 12:00 on the 22nd. ledger-db's only copy
    // (taken 12:00 on the 20th) is the oldest throughout: 24, 30, 36, 42 and 48 hours.
    expect(series.get('222222222222|rds-snapshot')).toEqual([
      { at: Date.parse('2026-11-21T12:00:00.000Z'), ageHours: 24 },
      { at: Date.parse('2026-11-21T18:00:00.000Z'), ageHours: 30 },
      { at: Date.parse('2026-11-22T00:00:00.000Z'), ageHours: 36 },
      { at: Date.parse('2026-11-22T06:00:00.000Z'), ageHours: 42 },
      { at: Date.parse('2026-11-22T12:00:00.000Z'), ageHours: 48 },
    ]);
  });

  it('has no age before the first copy arrived, and counts a copy only from when it was available', () => {
    const series = freshnessSeries(
      [copy('orders-db', '2026-11-22T00:00:00.000Z', '2026-11-22T07:00:00.000Z')],
      [],
      NOW,
      0.5,
      6,
    );
    expect(series.get('222222222222|rds-snapshot')).toEqual([
      { at: Date.parse('2026-11-22T00:00:00.000Z') },
      { at: Date.parse('2026-11-22T06:00:00.000Z') },
      { at: Date.parse('2026-11-22T12:00:00.000Z'), ageHours: 12 },
    ]);
  });
});

describe('reportHtml', () => {
  it('escapes every text from outside, so a hostile name or reason is shown, never run', () => {
    expect(escapeHtml(`<img src=x onerror="alert('x')">`)).toBe(
      '&#60;img src=x onerror=&#34;alert(&#39;x&#39;)&#34;&#62;',
    );
    const html = reportHtml({
      name: 'bunker',
      generatedAt: NOW,
      sources: [{ account: '222222222222', name: 'payments' }],
      rpoHours: { 'rds-snapshot': 24 },
      copies: [copy('orders-db', '2026-11-22T00:00:00.000Z', '2026-11-22T01:00:00.000Z')],
      pulled: [],
      resources: [
        {
          kind: 'rds-snapshot',
          account: '222222222222',
          region: 'eu-west-1',
          resource: '<script>alert(1)</script>',
          rpoHours: 24,
          state: 'breach',
          reason: 'never copied',
        },
      ],
    });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('1 resource(s) outside their RPO, 0 at risk.');
    expect(html).toContain('payments (222222222222): rds-snapshot');
    // Nothing is fetched when the page is viewed.
    expect(html).not.toMatch(/\b(src|href)=["']?https?:/);
  });
});

describe('ReportCommandOptions', () => {
  // A type, so tsc is what checks this: the CLI passes `--operator` in a typed literal, not a spread object.
  it('takes --operator as `bunker status` and `bunker inventory` do, and is a session option', () => {
    const options: ReportCommandOptions = { endpoint: 'http://127.0.0.1:5000', operator: true, days: 14 };
    expectTypeOf<ReportCommandOptions['operator']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf(options).toExtend<SessionOptions>();
    expect(options.operator).toBe(true);
  });
});
