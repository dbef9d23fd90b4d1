/**
 * The HTML report in a real headless browser (Debian's chromium, which
 * `make test` installs when it is missing, driven by playwright-core): the
 * page renders offline, shows the expected accounts and kinds, asks the
 * network for nothing, and a screenshot of it is saved.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportHtml } from '../../cli/report';
import { type InventoryRecord, newRecord } from '../../lambdas/core/inventory';
import type { PulledRecord } from '../../lambdas/core/pull/types';

const CHROMIUM = process.env.BUNKER_CHROMIUM ?? '/usr/bin/chromium';
const NOW = new Date('2026-11-22T12:00:00.000Z');

function copy(
  account: string,
  kind: 'rds-snapshot' | 'ebs-snapshot',
  resource: string,
  hoursAgo: number,
): InventoryRecord {
  const taken = new Date(NOW.getTime() - hoursAgo * 3_600_000).toISOString();
  return {
    ...newRecord(
      {
        artifactId: `${kind}:${account}:eu-west-1:${resource}`,
        kind,
        status: 'available',
        sourceAccount: account,
        sourceRegion: 'eu-west-1',
        sourceId: resource,
        sourceResourceId: resource,
        sourceCreatedAt: taken,
      },
      new Date(taken),
    ),
    completedAt: new Date(Date.parse(taken) + 3_600_000).toISOString(),
  };
}

const parameter: PulledRecord = {
  artifactId: 'ssm-parameter:333333333333:eu-west-1:/storefront/db/host',
  kind: 'ssm-parameter',
  pullScope: 'ssm-parameter:333333333333:eu-west-1',
  state: 'held',
  sourceAccount: '333333333333',
  sourceRegion: 'eu-west-1',
  sourceId: '/storefront/db/host',
  latest: {
    id: '3',
    modifiedAt: '2026-11-20T00:00:00.000Z',
    pulledAt: '2026-11-22T06:00:00.000Z',
    objectKey: 'ssm/x',
    checksum: 'hmac-sha256:00',
  },
  createdAt: '2026-11-20T00:00:00.000Z',
  updatedAt: '2026-11-22T06:00:00.000Z',
  version: 3,
};

let browser: Browser;
const dir = mkdtempSync(join(tmpdir(), 'bunker-report-'));
const page = join(dir, 'report.html');
const screenshot = join(dir, 'report.png');

beforeAll(async () => {
  writeFileSync(
    page,
    reportHtml({
      name: 'bunker',
      generatedAt: NOW,
      sources: [
        { account: '222222222222', name: 'payments' },
        { account: '333333333333', name: 'storefront' },
      ],
      rpoHours: { 'rds-snapshot': 24, 'ebs-snapshot': 12, 'ssm-parameter': 12 },
      copies: [
        copy('222222222222', 'rds-snapshot', 'orders-db', 30),
        copy('333333333333', 'ebs-snapshot', 'vol-0a1', 2),
      ],
      pulled: [parameter],
      resources: [
        {
          kind: 'rds-snapshot',
          account: '222222222222',
          region: 'eu-west-1',
          resource: 'orders-db',
          rpoHours: 24,
          state: 'breach',
          reason: 'late',
          detail: 'the newest copy is 30 h old, the RPO is 24 h',
          newestCopyAt: '2026-11-21T06:00:00.000Z',
          ageHours: 30,
        },
        {
          kind: 'ebs-snapshot',
          account: '333333333333',
          region: 'eu-west-1',
          resource: 'vol-0a1',
          rpoHours: 12,
          state: 'ok',
          ageHours: 2,
        },
      ],
    }),
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

describe('bunker report in headless Chromium', () => {
  it('renders the accounts and kinds, the breach first, offline, and saves a screenshot', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const tab = await context.newPage();
    const requested: string[] = [];
    tab.on('request', (request) => requested.push(request.url()));
    await tab.goto(pathToFileURL(page).href);

    const figures = await tab
      .locator('figure')
      .evaluateAll((nodes) => nodes.map((n) => `${n.getAttribute('data-account')} ${n.getAttribute('data-kind')}`));
    expect(figures).toEqual(['222222222222 rds-snapshot', '333333333333 ebs-snapshot', '333333333333 ssm-parameter']);
    expect(await tab.locator('figcaption').first().textContent()).toBe('payments (222222222222): rds-snapshot');
    // Each chart is drawn: an age line, and the RPO line.
    expect(await tab.locator('figure svg path.age').count()).toBe(3);
    expect(await tab.locator('figure svg line.rpo').count()).toBe(3);
    // The newest age of each chart is marked, even where one point draws no line.
    expect(await tab.locator('figure svg circle.latest title').allTextContents()).toEqual(['30 h', '2 h', '6 h']);
    expect(await tab.locator('.verdict').textContent()).toBe('1 resource(s) outside their RPO, 0 at risk.');
    const firstRow = await tab.locator('tbody tr').first().locator('td').allTextContents();
    expect(firstRow.slice(0, 6)).toEqual([
      'breach',
      'rds-snapshot',
      'payments (222222222222) eu-west-1',
      'orders-db',
      '2026-11-21 06:00',
      '30 h',
    ]);
    // The page itself is the only thing loaded.
    expect(requested).toEqual([pathToFileURL(page).href]);

    await tab.screenshot({ path: screenshot, fullPage: true });
    const png = readFileSync(screenshot);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.length).toBeGreaterThan(10_000);
    await context.close();
  });
});
