/**
 * From the operator's configuration to the Lambdas' runtime settings. The
 * CDK stacks and the local mode both go through here, so a setting reaches
 * a Lambda the same way in AWS and on the emulator.
 */
import { intakeTopicArn, vaultNames } from '../../lambdas/core/names';
import type { SourceSettings, VaultSettings } from '../../lambdas/core/settings';
import type { BunkerConfig } from './schema';

export function vaultSettings(config: BunkerConfig, backupKeyArn: string): VaultSettings {
  return {
    prefix: config.name,
    backupAccount: config.backup.account,
    backupRegion: config.backup.region,
    inventoryTable: vaultNames(config.name).inventoryTable,
    backupKeyArn,
    sources: config.sources.map(({ account, regions }) => ({ account, regions })),
    maxRdsCopiesInProgress: config.limits.rdsCopiesInProgress,
  };
}

export function sourceSettings(
  config: BunkerConfig,
  sourceAccount: string,
  sourceRegion: string,
  shareKeyArn: string,
): SourceSettings {
  return {
    prefix: config.name,
    backupAccount: config.backup.account,
    sourceAccount,
    sourceRegion,
    shareKeyArn,
    intakeTopicArn: intakeTopicArn(config.name, config.backup.account, config.backup.region),
    scope: config.artifacts.rds.scope,
    intermediateRetentionHours: config.sourceAgent.intermediateRetentionHours,
    maxIntermediateSnapshots: config.sourceAgent.maxIntermediateSnapshots,
  };
}
