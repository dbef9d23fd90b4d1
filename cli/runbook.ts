/**
 * `bunker runbook --account A`: the ordered, timed recovery plan of one
 * production account, from the inventory (the newest copies) and the drill
 * log (the measured restore times). Read-only.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AwsContext } from '../lambdas/adapters/aws-context';
import { clientConfig } from '../lambdas/adapters/aws-context';
import { DynamoDrillLog } from '../lambdas/adapters/drill/dynamo-drill-log';
import { vaultNames } from '../lambdas/core/names';
import { chooseCopies } from '../lambdas/core/recovery/choose';
import { buildRunbook, type Runbook, runbookJson, runbookMarkdown } from '../lambdas/core/recovery/runbook';
import type { BunkerConfig } from '../lib/config/schema';
import { readInventory, readPulled } from './inventory';

export interface RunbookOptions {
  readonly account: string;
  readonly toAccount?: string;
  readonly toRegion?: string;
  /** Passed on to the `bunker` commands the runbook prints. */
  readonly configFile?: string;
  readonly endpoint?: string;
  readonly partition?: string;
}

/** The runbook of `options.account` from what the backup account holds now. */
export async function readRunbook(
  config: BunkerConfig,
  context: AwsContext,
  options: RunbookOptions,
  now: Date,
): Promise<Runbook> {
  const [records, pulled, drills] = await Promise.all([
    readInventory(context, config.name, { account: options.account }),
    readPulled(context, config.name, { account: options.account }),
    new DynamoDrillLog(new DynamoDBClient(clientConfig(context)), vaultNames(config.name).inventoryTable).latest({
      account: options.account,
    }),
  ]);
  const copies = chooseCopies(
    records,
    pulled,
    { account: options.account, ...(options.toRegion ? { toRegion: options.toRegion } : {}) },
    config.backup.region,
  );
  return buildRunbook({
    copies,
    drills,
    targetMinutes: config.drills.restoreTargetMinutes,
    generatedAt: now,
    settings: {
      backupAccount: config.backup.account,
      partition: options.partition ?? 'aws',
      account: options.account,
      ...(options.toAccount ? { toAccount: options.toAccount } : {}),
      ...(options.toRegion ? { toRegion: options.toRegion } : {}),
      ...(options.configFile ? { configFile: options.configFile } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    },
  });
}

export const runbookText = (runbook: Runbook, format: 'md' | 'json') =>
  format === 'json' ? runbookJson(runbook) : runbookMarkdown(runbook);

/** The demo's step: the runbook of the first source account, printed through `progress`. */
export async function demoRunbook(
  config: BunkerConfig,
  context: AwsContext,
  progress: (line: string) => void,
): Promise<Runbook> {
  const account = config.sources[0].account;
  progress(`The recovery runbook of account ${account} (bunker runbook --account ${account})`);
  const runbook = await readRunbook(config, context, { account }, new Date());
  for (const line of runbookMarkdown(runbook).trimEnd().split('\n')) progress(`  ${line}`);
  return runbook;
}
