/**
 * The CLI as it runs against AWS (no --endpoint): credentials from a named
 * profile, checked to belong to the backup account before anything is read,
 * and a missing inventory table named. The SDK's own `AWS_ENDPOINT_URL`
 * points the AWS path at the emulator, so this is the code path of a real
 * account, not the local mode's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { newRecord } from '../../lambdas/core/inventory';
import { localUp } from '../../cli/local/up';
import { parseConfig } from '../../lib/config/load';
import { clientConfig, credentialsFor, DEFAULT_TEST_REGION, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { describeRun, runBunker } from './support/cli';

describe('bunker inventory against AWS with --profile (AWS_ENDPOINT_URL: the emulator)', () => {
  const backup = freshAccountId();
  const source = freshAccountId();
  const stranger = freshAccountId();
  const dir = mkdtempSync(join(tmpdir(), 'bunker-cli-'));
  const configFile = join(dir, 'bunker.config.json');
  const credentialsFile = join(dir, 'credentials');
  let env: Record<string, string>;

  beforeAll(async () => {
    const endpoint = emulatorEndpoint();
    const input = {
      name: 'bunker',
      backup: { account: backup, region: DEFAULT_TEST_REGION },
      sources: [{ account: source, regions: [DEFAULT_TEST_REGION] }],
      artifacts: { rds: { enabled: true } },
      alerts: { emails: ['ops@example.com'] },
    };
    writeFileSync(configFile, JSON.stringify(input));
    const profiles = await Promise.all(
      [
        ['backup', backup],
        ['stranger', stranger],
      ].map(async ([name, account]) => {
        const c = await credentialsFor(endpoint, account);
        return `[${name}]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\naws_session_token = ${c.sessionToken}\n`;
      }),
    );
    writeFileSync(credentialsFile, profiles.join('\n'));
    env = {
      AWS_ENDPOINT_URL: endpoint,
      AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
      AWS_CONFIG_FILE: join(dir, 'no-config'),
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
    };
  });

  it('refuses credentials of another account and says whose they are', async () => {
    const run = await runBunker(['inventory', '--config', configFile, '--profile', 'stranger'], 45_000, env);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(
      `bunker: the credentials of profile stranger belong to account ${stranger}, not the backup account ${backup}`,
    );
  });

  it('names the inventory table it cannot find, and where it looked', async () => {
    const run = await runBunker(['inventory', '--config', configFile, '--profile', 'backup'], 45_000, env);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(
      `bunker: the inventory table bunker-inventory does not exist in account ${backup} ${DEFAULT_TEST_REGION}`,
    );
  });

  it('prints --output csv with --since: one row per record changed since, formula-inert', async () => {
    const endpoint = emulatorEndpoint();
    const config = parseConfig(JSON.parse(readFileSync(configFile, 'utf8')), configFile);
    await localUp(config, endpoint);
    const inventory = new DynamoInventory(
      new DynamoDBClient(clientConfig(endpoint, backup)),
      'bunker-inventory',
      'by-status',
    );
    const record = (id: string, at: string, reason?: string) =>
      newRecord(
        {
          artifactId: `rds-snapshot:${source}:${DEFAULT_TEST_REGION}:${id}`,
          kind: 'rds-snapshot',
          status: reason ? 'failed' : 'available',
          reason,
          sourceAccount: source,
          sourceRegion: DEFAULT_TEST_REGION,
          sourceId: id,
        },
        new Date(at),
      );
    await inventory.create(record('old-copy', '2026-01-01T00:00:00.000Z'));
    await inventory.create(record('new-copy', '2026-06-01T00:00:00.000Z', '=HYPERLINK("http://evil","click")'));
    const run = await runBunker(
      ['inventory', '--config', configFile, '--profile', 'backup', '--output', 'csv', '--since', '2026-03-01'],
      45_000,
      env,
    );
    expect(run.code, describeRun(run)).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'artifactId,kind,status,sourceAccount,sourceRegion,source,sourceCreatedAt,target,targetRegion,kmsKeyArn,count,checksum,createdAt,updatedAt,reason',
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(
      `rds-snapshot:${source}:${DEFAULT_TEST_REGION}:new-copy,rds-snapshot,failed,${source},${DEFAULT_TEST_REGION},new-copy,,,,,,,2026-06-01T00:00:00.000Z,2026-06-01T00:00:00.000Z,"'=HYPERLINK(""http://evil"",""click"")"`,
    );
  });
});
