/**
 * The local mode on the emulator: `localUp` (what the stacks create),
 * `localRun` (the pipeline until nothing is pending), and the operator CLI
 * run end to end as a child process against the same emulator.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeKeyCommand, KMSClient, ListAliasesCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { localRun } from '../../cli/local/run';
import { localUp } from '../../cli/local/up';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { INTERMEDIATE_PREFIX } from '../../lambdas/core/names';
import { parseConfig } from '../../lib/config/load';
import type { BunkerConfigInput } from '../../lib/config/schema';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createDatabase,
  createSnapshot,
  inventory,
  ownSnapshots,
  publish,
  REGION,
  TestClients,
  tagsOf,
} from './support/bunker';
import { type CliResult, describeRun, runBunker } from './support/cli';

const endpoint = emulatorEndpoint();
const aws = new TestClients(endpoint);
afterAll(() => aws.destroy());

/** The agent's intermediates in a source account: one per in-scope snapshot. */
async function intermediatesIn(account: string) {
  return (await ownSnapshots(aws.rds(account))).filter((s) =>
    s.DBSnapshotIdentifier?.startsWith(`${INTERMEDIATE_PREFIX}-`),
  );
}

// Every test uses its own fresh accounts, so they run concurrently: most of
// their time is spent waiting for the emulator or for a CLI child process.
describe.concurrent('the local mode', () => {
  describe('localUp', () => {
    it('finds what exists when run twice: same keys, topic and queues, and one subscription', async ({ expect }) => {
      const backup = freshAccountId();
      const sources = [freshAccountId(), freshAccountId()];
      const config = bunkerConfig(backup, sources);

      const first = await localUp(config, endpoint);
      const second = await localUp(config, endpoint);

      expect(second).toEqual(first);
      expect(new Set([first.backupKeyArn, first.intakeKeyArn, ...first.sources.map((s) => s.shareKeyArn)]).size).toBe(
        4,
      );
      expect(first.sources.map((s) => s.account)).toEqual(sources);
      const backupConfig = clientConfig(endpoint, backup, REGION);
      const sns = new SNSClient(backupConfig);
      const sqs = new SQSClient(backupConfig);
      const kms = new KMSClient(backupConfig);
      try {
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: first.queueUrl, AttributeNames: ['QueueArn'] }),
        );
        expect(Object.keys(first.topicArns)).toEqual(sources);
        for (const topicArn of Object.values(first.topicArns)) {
          const { Subscriptions } = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
          expect(Subscriptions?.map((s) => [s.Protocol, s.Endpoint])).toEqual([['sqs', Attributes?.QueueArn]]);
        }
        const { QueueUrls } = await sqs.send(new ListQueuesCommand({}));
        expect(QueueUrls?.sort()).toEqual([first.queueUrl, first.deadLetterQueueUrl].sort());
        // The vault stack's other keys encrypt the alerts topic, the inventory and the tamper trail's log files.
        const { KeyMetadata: alertsKey } = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/bunker-alerts' }));
        const { KeyMetadata: inventoryKey } = await kms.send(
          new DescribeKeyCommand({ KeyId: 'alias/bunker-inventory' }),
        );
        const { KeyMetadata: trailKey } = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/bunker-trail' }));
        const { Keys } = await kms.send(new ListKeysCommand({}));
        expect(Keys?.map((k) => k.KeyArn).sort()).toEqual(
          [first.backupKeyArn, first.intakeKeyArn, alertsKey?.Arn, inventoryKey?.Arn, trailKey?.Arn].sort(),
        );
        const { Aliases } = await kms.send(new ListAliasesCommand({}));
        const bunkerAliases = Aliases?.filter((a) => a.AliasName?.startsWith('alias/bunker-'));
        expect(bunkerAliases?.map((a) => a.AliasName).sort()).toEqual([
          'alias/bunker-alerts',
          'alias/bunker-backup-data',
          'alias/bunker-intake',
          'alias/bunker-inventory',
          'alias/bunker-trail',
        ]);
        // A source account holds its share key and the key of the vault's receipts, once each.
        const { Keys: sourceKeys } = await aws.kms(sources[0]).send(new ListKeysCommand({}));
        expect(sourceKeys).toHaveLength(2);
        expect(sourceKeys?.map((k) => k.KeyArn)).toContain(first.sources[0].shareKeyArn);
        const { Aliases: sourceAliases } = await aws.kms(sources[0]).send(new ListAliasesCommand({}));
        expect(
          sourceAliases
            ?.map((a) => a.AliasName)
            .filter((name) => name?.startsWith('alias/bunker-'))
            .sort(),
        ).toEqual(['alias/bunker-receipts', 'alias/bunker-share']);
      } finally {
        for (const client of [sns, sqs, kms]) client.destroy();
      }
    });
  });

  describe('localRun', () => {
    it('settles with nothing pending and reports what it did', async ({ expect }) => {
      const backup = freshAccountId();
      const source = freshAccountId();
      const config = bunkerConfig(backup, [source]);
      const env = await localUp(config, endpoint);
      const rds = aws.rds(source);
      await createDatabase(rds, { id: 'orders', inScope: true });
      await createSnapshot(rds, 'orders', 'orders-manual');
      await publish(aws.sns(source), env.topicArns[source], 'not a notification');
      const progress: string[] = [];

      const summary = await localRun(config, endpoint, { progress: (line) => progress.push(line) });

      const intermediates = await intermediatesIn(source);
      expect(intermediates.length).toBeGreaterThanOrEqual(1);
      const copies = intermediates.length;
      expect(summary).toMatchObject({
        settled: true,
        notified: copies,
        messagesProcessed: copies + 1,
        messagesLeft: 0,
        deadLetters: 0,
      });
      expect(summary.rounds).toBeGreaterThanOrEqual(1);
      expect(summary.byStatus).toEqual({
        expected: 0,
        copying: 0,
        available: copies,
        failed: 0,
        rejected: 1,
        expired: 0,
      });
      expect((await inventory(config, endpoint, { status: 'available' })).length).toBe(copies);
      expect(progress.join('\n')).toMatch(new RegExp(`${copies} snapshot\\(s\\) shared and announced`));

      const again = await localRun(config, endpoint);

      expect(again).toMatchObject({ settled: true, rounds: 1, notified: 0, messagesProcessed: 0, messagesLeft: 0 });
      expect(again.byStatus).toEqual(summary.byStatus);
    });
  });

  describe('the bunker CLI end to end', () => {
    const backup = freshAccountId();
    const source = freshAccountId();
    const dir = mkdtempSync(join(tmpdir(), 'bunker-cli-test-'));
    const configFile = join(dir, 'bunker.config.json');
    let run: CliResult;

    beforeAll(async () => {
      const input: BunkerConfigInput = {
        name: 'bunker',
        backup: { account: backup, region: REGION },
        sources: [{ account: source, name: 'payments', regions: [REGION] }],
        artifacts: { rds: { enabled: true } },
      };
      writeFileSync(configFile, JSON.stringify(input, null, 2));
      const rds = aws.rds(source);
      await createDatabase(rds, { id: 'orders', inScope: true });
      await createSnapshot(rds, 'orders', 'orders-manual');
      // One broken message too, so the inventory holds a rejected record that --status must leave out.
      const env = await localUp(parseConfig(input), endpoint);
      await publish(aws.sns(source), env.topicArns[source], 'not a notification');
      run = await runBunker(['local', 'run', '--endpoint', endpoint, '--config', configFile]);
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('`local run` backs up the configured accounts, says it settled, and exits 0', async ({ expect }) => {
      expect(run.code, describeRun(run)).toBe(0);
      const copies = (await intermediatesIn(source)).length;
      expect(copies).toBeGreaterThanOrEqual(1);
      expect(run.stdout).toContain(`: 0 expected, 0 copying, ${copies} available, 0 failed, 1 rejected, 0 expired.`);
      expect(run.stdout).toMatch(/^Settled after \d+ round\(s\)/m);
      const backupCopies = (await ownSnapshots(aws.rds(backup))).filter(
        (s) => tagsOf(s)['bunker:source-account'] === source,
      );
      expect(backupCopies).toHaveLength(copies);
    });

    it('`inventory --output json --status available` prints the available records as JSON', async ({ expect }) => {
      const result = await runBunker([
        'inventory',
        '--endpoint',
        endpoint,
        '--config',
        configFile,
        '--output',
        'json',
        '--status',
        'available',
      ]);

      expect(result.code, describeRun(result)).toBe(0);
      const records = JSON.parse(result.stdout) as InventoryRecord[];
      const all = await inventory(bunkerConfig(backup, [source]), endpoint);
      expect(all.filter((r) => r.status === 'rejected')).toHaveLength(1);
      const backupCopies = (await ownSnapshots(aws.rds(backup))).map((s) => s.DBSnapshotIdentifier);
      expect(records.length).toBeGreaterThanOrEqual(1);
      expect(records.map((r) => r.targetId).sort()).toEqual(backupCopies.sort());
      for (const record of records) {
        expect(record).toMatchObject({
          status: 'available',
          kind: 'rds-snapshot',
          sourceAccount: source,
          sourceRegion: REGION,
          sourceResourceId: 'orders',
        });
      }
    });

    it('`inventory --output table` prints a table and a summary line', async ({ expect }) => {
      const result = await runBunker([
        'inventory',
        '--endpoint',
        endpoint,
        '--config',
        configFile,
        '--output',
        'table',
      ]);

      expect(result.code, describeRun(result)).toBe(0);
      const records = await inventory(bunkerConfig(backup, [source]), endpoint);
      const available = records.filter((r) => r.status === 'available').length;
      expect(available).toBeGreaterThanOrEqual(1);
      expect(result.stdout).toMatch(/│ Status\s+│ Account\s+│ Source\s+│ Taken \(UTC\)\s+│ Copy\s+│ Reason\s+│/);
      expect(Math.max(...result.stdout.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120);
      // Each record spans two lines: status over kind, account over Region.
      expect(result.stdout).toMatch(new RegExp(`│ available\\s+│ ${source}\\s+│[^\\n]*\\n│ rds\\s+│ ${REGION}\\s+│`));
      // A rejection belongs to the account whose intake topic carried it.
      expect(result.stdout).toMatch(new RegExp(`│ rejected\\s+│ ${source}\\s+│.*│ message is not JSON`));
      expect(result.stdout).toContain(`${records.length} record(s): ${available} available, 1 rejected`);
    });
  });

  describe('the bunker CLI on bad input and --help', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bunker-cli-bad-'));
    const badConfigFile = join(dir, 'broken.json');
    writeFileSync(
      badConfigFile,
      JSON.stringify({
        backup: { account: '12345', region: REGION },
        sources: [{ account: freshAccountId(), regions: ['mars-1'] }],
        artifacts: { rds: { enabled: true, rpohours: 12 } },
      }),
    );
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('`local run` with a bad --config prints the key path of each problem and exits 1', async ({ expect }) => {
      const result = await runBunker(['local', 'run', '--endpoint', endpoint, '--config', badConfigFile]);

      expect(result.code, describeRun(result)).toBe(1);
      expect(result.stderr).toContain(`Invalid Bunker configuration in ${badConfigFile}`);
      expect(result.stderr).toContain('backup.account: expected a 12-digit AWS account id');
      expect(result.stderr).toContain('sources[0].regions[0]: expected an AWS Region name');
      expect(result.stderr).toContain('artifacts.rds.rpohours: unknown key');
      expect(result.stdout).toBe('');
    });

    const helps: [string, string[], (string | RegExp)[]][] = [
      ['bunker', [], ['Usage: bunker [options] [command]', /demo\s/, /local\s/, /inventory \[options\]/, /config\s/]],
      ['local up', ['local', 'up'], ['Usage: bunker local up [options]', '--endpoint <url>', '--config <file>']],
      [
        'local run',
        ['local', 'run'],
        ['Usage: bunker local run [options]', '--endpoint <url>', '--config <file>', '--max-rounds <n>'],
      ],
      ['local emulator', ['local', 'emulator'], ['Usage: bunker local emulator [options]', '--port <port>']],
      [
        'inventory',
        ['inventory'],
        [
          'Usage: bunker inventory [options]',
          '--config <file>',
          '--endpoint <url>',
          /--output <format>[\s\S]*"table", "json"/,
          '--wide',
          '--account <id>',
          /--kind <kind>[\s\S]*aurora[\s\S]*ebs[\s\S]*ami/,
          /--status <status>[\s\S]*"available"/,
        ],
      ],
      ['config validate', ['config', 'validate'], ['Usage: bunker config validate [options]', '--config <file>']],
    ];
    it.for(helps)(
      '`%s --help` exits 0 and describes the command and its options',
      async ([, command, expected], { expect }) => {
        const result = await runBunker([...command, '--help']);

        expect(result.code, describeRun(result)).toBe(0);
        for (const text of expected) {
          if (typeof text === 'string') expect(result.stdout).toContain(text);
          else expect(result.stdout).toMatch(text);
        }
      },
    );
  });
});
