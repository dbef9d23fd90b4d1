/**
 * The vault roles' policies stay within one inline policy each (no
 * `OverflowPolicy1`) and cdk-nag clean at the size that used to overflow:
 * every snapshot kind, a second Region, and sources in three or more Regions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BunkerConfigInput } from '../../lib/config/schema';
import { BACKUP, PAYMENTS, STOREFRONT, type Synthesized, synthesize } from './support/synth';

const ANALYTICS = '444444444444';

const document: BunkerConfigInput = {
  name: 'bunker',
  backup: { account: BACKUP, region: 'eu-west-1', secondRegion: 'us-east-1' },
  sources: [
    { account: PAYMENTS, regions: ['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2'] },
    { account: STOREFRONT, regions: ['eu-west-1', 'eu-central-1', 'ap-southeast-2'] },
    { account: ANALYTICS, regions: ['eu-west-2', 'eu-north-1', 'ca-central-1'] },
  ],
  artifacts: {
    rds: { enabled: true },
    aurora: { enabled: true },
    ebs: { enabled: true },
    ami: { enabled: true },
  },
  alerts: { emails: ['backup-alerts@example.com'] },
};

let synthesized: Synthesized;

beforeAll(() => {
  synthesized = synthesize(document);
}, 120_000);

describe('every snapshot kind, a second Region and sources in many Regions', () => {
  it('synthesizes with no unacknowledged cdk-nag finding', () => {
    expect(String(synthesized.synthError ?? '')).toBe('');
    const report = JSON.parse(synthesized.validationReport) as { pluginReports: { violations?: unknown[] }[] };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('keeps each vault role to its one inline policy: nothing overflows into a second one', () => {
    const managed = Object.entries(synthesized.vault.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::IAM::ManagedPolicy')
      .map(([id]) => id);
    expect(managed).toEqual([]);
  });
});
