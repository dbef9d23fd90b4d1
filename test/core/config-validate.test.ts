/**
 * `bunker config validate` says before a deployment what the vault's
 * synthesis would refuse: no alert address without `alerts.allowNoEmail`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { alertAddressProblem, type BunkerConfigInput } from '../../lib/config/schema';
import { describeRun, runBunker } from '../emulator/support/cli';

const document: BunkerConfigInput = {
  backup: { account: '111111111111', region: 'eu-west-1' },
  sources: [{ account: '222222222222', regions: ['eu-west-1'] }],
  artifacts: { rds: { enabled: true } },
};
const NO_ADDRESS =
  'alerts.emails: expected at least one e-mail address to tell when a backup is missing, late or failed; or set "alerts": { "allowNoEmail": true } to deploy with nobody e-mailed';

describe('the alert address check', () => {
  it('finds no address and no allowNoEmail a problem', () => {
    expect(alertAddressProblem(parseConfig(document, 'test'))).toBe(NO_ADDRESS);
  });

  it('accepts an address, or allowNoEmail without one', () => {
    expect(alertAddressProblem(parseConfig({ ...document, alerts: { emails: ['ops@example.com'] } }, 'test'))).toBe(
      undefined,
    );
    expect(alertAddressProblem(parseConfig({ ...document, alerts: { allowNoEmail: true } }, 'test'))).toBe(undefined);
  });

  it('makes `config validate` exit 1 naming the file and the key', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bunker-validate-')), 'no-alerts.json');
    writeFileSync(file, JSON.stringify(document));

    const result = await runBunker(['config', 'validate', '--config', file]);

    expect(result.code, describeRun(result)).toBe(1);
    expect(result.stderr).toBe(`bunker: ${file} would not deploy: ${NO_ADDRESS}\n`);
    expect(result.stdout).toBe('');
  }, 60_000);
});
