/**
 * From the operator's configuration to the Lambdas' runtime settings. The
 * CDK stacks and the local mode both go through here, so a setting reaches
 * a Lambda the same way in AWS and on the emulator.
 */
import { ALL_KINDS } from '../../lambdas/kinds/registry';
import type { Kind, KindName } from '../../lambdas/kinds/types';
import { intakeTopicArn, vaultNames } from '../../lambdas/core/names';
import type { KindsSettings, ScopeSetting, SourceSettings, VaultSettings } from '../../lambdas/core/settings';
import type { BunkerConfig } from './schema';

/** The kinds a configuration enables: the stacks build rules and grants for these only. */
export function enabledKinds(config: BunkerConfig): Kind[] {
  return ALL_KINDS.filter((kind) => config.artifacts[kind.configKey].enabled);
}

/** The kinds the source agent handles. */
export const AGENT_KINDS: readonly KindName[] = ['rds-snapshot', 'aurora-cluster-snapshot', 'ebs-snapshot', 'ami'];

/** What the vault does with each kind: the config's `artifacts.<kind>` and `limits.<kind>CopiesInProgress`. */
export function kindsSettings(config: BunkerConfig): KindsSettings {
  return Object.fromEntries(
    ALL_KINDS.map((kind) => {
      const policy = config.artifacts[kind.configKey];
      return [
        kind.name,
        {
          enabled: policy.enabled,
          scope: policy.scope,
          copyLimit: config.limits[`${kind.configKey}CopiesInProgress`],
        },
      ];
    }),
  ) as unknown as KindsSettings;
}

export function vaultSettings(config: BunkerConfig, backupKeyArn: string, partition = 'aws'): VaultSettings {
  return {
    prefix: config.name,
    partition,
    backupAccount: config.backup.account,
    backupRegion: config.backup.region,
    inventoryTable: vaultNames(config.name).inventoryTable,
    backupKeyArn,
    sources: config.sources.map(({ account, regions }) => ({ account, regions })),
    kinds: kindsSettings(config),
    ...(config.backup.secondRegion ? { secondRegion: config.backup.secondRegion } : {}),
  };
}

export function sourceSettings(
  config: BunkerConfig,
  sourceAccount: string,
  sourceRegion: string,
  shareKeyArn: string,
  partition = 'aws',
): SourceSettings {
  const scopes: { [K in KindName]?: ScopeSetting } = {};
  for (const kind of ALL_KINDS) {
    const policy = config.artifacts[kind.configKey];
    if (policy.enabled && AGENT_KINDS.includes(kind.name)) scopes[kind.name] = policy.scope;
  }
  return {
    prefix: config.name,
    partition,
    backupAccount: config.backup.account,
    sourceAccount,
    sourceRegion,
    shareKeyArn,
    intakeTopicArn: intakeTopicArn(config.name, config.backup.account, config.backup.region, sourceAccount, partition),
    scopes,
    intermediateRetentionHours: config.sourceAgent.intermediateRetentionHours,
    intermediateHorizonHours: config.sourceAgent.intermediateHorizonHours,
    maxIntermediateSnapshots: config.sourceAgent.maxIntermediateSnapshots,
  };
}
