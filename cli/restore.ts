/**
 * `bunker restore ssm|secrets|dynamodb`: what the vault holds, written into
 * an account the operator names, with that account's credentials, and read
 * back and compared. The backup account never gets a write right in
 * production: the restore runs with the operator's credentials for each
 * side (against AWS: the default chain for the backup account, a named
 * profile for the target; with `--endpoint`: the emulator's accounts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { DynamoPulledInventory } from '../lambdas/adapters/pull/dynamo-pulled';
import { SdkTableTarget } from '../lambdas/adapters/pull/table-target';
import { S3VaultStore, vaultS3Client } from '../lambdas/adapters/pull/s3-vault-store';
import {
  SecretsValueTarget,
  SsmValueTarget,
  secretsClientFor,
  ssmClientFor,
} from '../lambdas/adapters/pull/value-targets';
import { vaultBucketName, vaultNames } from '../lambdas/core/names';
import { readFingerprint } from '../lambdas/core/pull/fingerprint';
import { parseRewrites, rewriteText } from '../lambdas/core/pull/restore/rewrite';
import { restoreTable, type TableRestoreSummary } from '../lambdas/core/pull/restore/tables';
import { type RestoredValue, restoreValues, type ValueRestoreSummary } from '../lambdas/core/pull/restore/values';
import type { BunkerConfig } from '../lib/config/schema';
import { backupContext, checkedContext } from './aws-session';

export interface RestoreTargetOptions {
  readonly endpoint?: string;
  readonly toAccount: string;
  readonly toRegion: string;
  /** The AWS profile with credentials for the target account (ignored with `endpoint`). */
  readonly toProfile?: string;
  /** The AWS profile with credentials for the backup account (ignored with `endpoint`); default the default chain. */
  readonly profile?: string;
}

export interface RestoreSides {
  readonly vault: AwsContext;
  readonly target: AwsContext;
}

/** The two sides of a restore, each checked to be the account it is meant to be. */
export async function restoreSides(config: BunkerConfig, options: RestoreTargetOptions): Promise<RestoreSides> {
  return {
    vault: await backupContext(config, { endpoint: options.endpoint, profile: options.profile }),
    target: await checkedContext(options.toAccount, options.toRegion, '--to-account', {
      endpoint: options.endpoint,
      profile: options.toProfile,
    }),
  };
}

/** The vault's store and pulled records, read-only for a restore. */
export function vaultReader(config: BunkerConfig, vault: AwsContext) {
  const names = vaultNames(config.name);
  return {
    // A restore never writes to the vault; the key is what a write would use.
    store: new S3VaultStore(
      vaultS3Client(vault),
      vaultBucketName(config.name, config.backup.account, config.backup.region),
      names.backupKeyAlias,
    ),
    records: new DynamoPulledInventory(
      new DynamoDBClient(clientConfig(vault)),
      names.inventoryTable,
      names.inventoryPullScopeIndex,
    ),
  };
}

export interface ValueRestoreOptions extends RestoreTargetOptions {
  readonly kind: 'ssm' | 'secrets';
  readonly account: string;
  readonly region: string;
  readonly namePrefix?: string;
  readonly at?: string;
  readonly targetPrefix?: string;
  readonly rewrites: readonly string[];
  /** The target's KMS key for SecureStrings and secrets; default: the target account's AWS-managed key. */
  readonly kmsKeyId?: string;
}

const OUTCOME: Record<RestoredValue['outcome'], string> = {
  equal: 'equal',
  mismatch: 'DIFFERS',
  failed: 'FAILED',
};

/** Restores parameters or secrets and says, value by value, whether what landed equals what the vault holds. */
export async function restoreValuesCommand(
  config: BunkerConfig,
  options: ValueRestoreOptions,
  say: (line: string) => void,
): Promise<ValueRestoreSummary> {
  const rewrites = parseRewrites(options.rewrites);
  const sides = await restoreSides(config, options);
  const { store, records } = vaultReader(config, sides.vault);
  const fingerprint = await readFingerprint(store);
  const target =
    options.kind === 'ssm'
      ? new SsmValueTarget(ssmClientFor(sides.target), options.kmsKeyId)
      : new SecretsValueTarget(secretsClientFor(sides.target), options.kmsKeyId);
  const what = options.kind === 'ssm' ? 'parameter' : 'secret';
  say(
    `Restoring ${what}s of ${options.account} ${options.region}${options.namePrefix ? ` under ${options.namePrefix}` : ''} ` +
      `as they were ${options.at ? `at ${options.at}` : 'last pulled'} into ${options.toAccount} ${options.toRegion}` +
      (rewrites.length > 0 ? `, rewriting ${rewrites.length} identifier(s)` : ''),
  );
  const summary = await restoreValues(
    {
      store,
      records,
      fingerprint,
      target,
      progress: ({ done, total, value }) =>
        say(
          `  [${done}/${total}] ${value.name}${value.targetName === value.name ? '' : ` -> ${value.targetName}`} ` +
            `(version ${value.versionId} of ${value.modifiedAt}): ${OUTCOME[value.outcome]}${value.reason ? `: ${value.reason}` : ''}`,
        ),
    },
    {
      kind: options.kind,
      account: options.account,
      region: options.region,
      namePrefix: options.namePrefix,
      at: options.at,
      targetPrefix: options.targetPrefix,
      rewrites,
    },
  );
  const skipped = [
    summary.skippedDeleted > 0 && `${summary.skippedDeleted} deleted at the source by then`,
    summary.skippedNotYet > 0 && `${summary.skippedNotYet} made later`,
  ].filter(Boolean);
  say(
    `${summary.ok ? 'Restored' : 'Restore FAILED'}: ${summary.written} of ${summary.planned} ${what}(s) written; ` +
      `checksum equal for ${summary.equal}, different for ${summary.mismatched}, failed ${summary.failed}` +
      (skipped.length > 0 ? `; skipped ${skipped.join(', ')}` : '') +
      '.',
  );
  if (summary.planned === 0) say(`Nothing to restore: the vault holds no ${what} matching these options.`);
  return summary;
}

export interface TableRestoreCliOptions extends RestoreTargetOptions {
  readonly account: string;
  readonly region: string;
  readonly table: string;
  readonly toTable: string;
  readonly at?: string;
  readonly rewrites: readonly string[];
  /** A bucket in the target account for ImportTable's input; without it every table is loaded by batch writes. */
  readonly importBucket?: string;
}

/** Restores one table at a time and says whether count, checksum and description match the manifests. */
export async function restoreTableCommand(
  config: BunkerConfig,
  options: TableRestoreCliOptions,
  say: (line: string) => void,
): Promise<TableRestoreSummary> {
  const rewrites = parseRewrites(options.rewrites);
  const sides = await restoreSides(config, options);
  const { store } = vaultReader(config, sides.vault);
  const target = new SdkTableTarget(sides.target, options.importBucket ? { importBucket: options.importBucket } : {});
  say(
    `Restoring table ${options.table} of ${options.account} ${options.region} as it was ${options.at ? `at ${options.at}` : 'last pulled'} ` +
      `into ${options.toTable} in ${options.toAccount} ${options.toRegion}` +
      (rewrites.length > 0 ? `, rewriting ${rewrites.length} identifier(s)` : ''),
  );
  const summary = await restoreTable(
    store,
    target,
    {
      account: options.account,
      region: options.region,
      table: options.table,
      toTable: options.toTable,
      ...(options.at ? { at: new Date(options.at) } : {}),
      ...(rewrites.length > 0 ? { rewrite: (text: string) => rewriteText(text, rewrites) } : {}),
    },
    {
      progress: (message, fields) =>
        say(
          `  ${message}${
            fields && Object.keys(fields).length > 0
              ? ` (${Object.entries(fields)
                  .map(([key, value]) => `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`)
                  .join(', ')})`
              : ''
          }`,
        ),
    },
  );
  say(
    `${summary.ok ? 'Restored' : 'Restore FAILED'}: ${summary.restoredCount} of ${summary.expectedCount} item(s) ` +
      `from ${summary.dumps.length} dump(s) as of ${summary.pointInTime} by ${summary.method}; ` +
      `checksum ${summary.restoredChecksum === summary.expectedChecksum ? 'equal' : 'DIFFERENT'}.`,
  );
  for (const problem of summary.problems) say(`  problem: ${problem}`);
  return summary;
}
