/**
 * From the operator's configuration to the Lambdas' runtime settings. The
 * CDK stacks and the local mode both go through here, so a setting reaches
 * a Lambda the same way in AWS and on the emulator.
 */
import { ALL_KINDS } from '../../lambdas/kinds/registry';
import type { Kind, KindName } from '../../lambdas/kinds/types';
import { intakeTopicArn, vaultBucketName, vaultNames } from '../../lambdas/core/names';
import {
  PULLED_CONFIG_KEYS,
  PULLED_KIND_OF,
  type PulledConfigKey,
  type PullSettings,
} from '../../lambdas/core/pull/types';
import type { PullSchedule } from '../../lambdas/core/pull/schedule';
import type { DrillPlace, DrillSettings } from '../../lambdas/core/drill/settings';
import type {
  ImmutabilitySettings,
  KindsSettings,
  PullHandlerSettings,
  ScopeSetting,
  SourceSettings,
  VaultSettings,
} from '../../lambdas/core/settings';
import { type BunkerConfig, defaultPullEveryMinutes } from './schema';

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
    immutability: immutabilitySettings(config),
  };
}

/** The kinds whose copies the vault locks itself: EBS snapshot lock, AMI deregistration protection. */
export const LOCKABLE_KINDS: readonly KindName[] = ['ebs-snapshot', 'ami'];

/** The config's `immutability`, with each enabled lockable kind's `retentionDays` as its lock. */
export function immutabilitySettings(config: BunkerConfig): ImmutabilitySettings {
  const lockDays: ImmutabilitySettings['lockDays'] = {};
  for (const kind of enabledKinds(config)) {
    if (LOCKABLE_KINDS.includes(kind.name)) lockDays[kind.name] = config.artifacts[kind.configKey].retentionDays;
  }
  return { mode: config.immutability.mode, coolOffHours: config.immutability.coolOffHours, lockDays };
}

export function sourceSettings(
  config: BunkerConfig,
  sourceAccount: string,
  sourceRegion: string,
  shareKeyArn: string,
  partition = 'aws',
): SourceSettings {
  const scopes: { [K in KindName]?: ScopeSetting } = {};
  const rpoHours: { [K in KindName]?: number } = {};
  for (const kind of ALL_KINDS) {
    const policy = config.artifacts[kind.configKey];
    if (!policy.enabled || !AGENT_KINDS.includes(kind.name)) continue;
    scopes[kind.name] = policy.scope;
    rpoHours[kind.name] = policy.rpoHours;
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
    rpoHours,
  };
}

/** The pulled kinds a configuration enables, in the order of {@link PULLED_CONFIG_KEYS}. */
export function enabledPulledKinds(config: BunkerConfig): PulledConfigKey[] {
  return PULLED_CONFIG_KEYS.filter((key) => config.artifacts[key].enabled);
}

/** What each enabled pulled kind pulls: the config's `artifacts.<kind>`; a disabled kind is absent. */
export function pullSettings(config: BunkerConfig): PullSettings {
  const { ssm, secrets, dynamodb } = config.artifacts;
  return {
    ...(ssm.enabled ? { ssm: { scope: ssm.scope, ...(ssm.paths ? { paths: ssm.paths } : {}) } } : {}),
    ...(secrets.enabled
      ? { secrets: { scope: secrets.scope, ...(secrets.namePrefixes ? { namePrefixes: secrets.namePrefixes } : {}) } }
      : {}),
    ...(dynamodb.enabled
      ? {
          dynamodb: {
            scope: dynamodb.scope,
            scanReadShare: dynamodb.scanReadShare,
            scanReadUnitsPerSecond: dynamodb.scanReadUnitsPerSecond,
            scanSegments: dynamodb.scanSegments,
            fullExportEveryHours: dynamodb.fullExportEveryHours,
          },
        }
      : {}),
  };
}

/** Every enabled pulled kind × source account × Region, with its rate (`pullEveryMinutes`, else half the RPO). */
export function pullSchedules(config: BunkerConfig): PullSchedule[] {
  return enabledPulledKinds(config).flatMap((kind) => {
    const policy = config.artifacts[kind];
    const everyMinutes = policy.pullEveryMinutes ?? defaultPullEveryMinutes(kind, policy.rpoHours);
    return config.sources.flatMap((source) =>
      source.regions.map((region) => ({ kind, account: source.account, region, everyMinutes })),
    );
  });
}

/**
 * With organizational units, one schedule per enabled pulled kind for every
 * enrolled account at once (at the kind's rate): the rule queues a fan-out
 * job that the pull handler expands. None without `organization`.
 */
export function pullFanOutSchedules(config: BunkerConfig): { kind: PulledConfigKey; everyMinutes: number }[] {
  if (!config.organization) return [];
  return enabledPulledKinds(config).map((kind) => {
    const policy = config.artifacts[kind];
    return { kind, everyMinutes: policy.pullEveryMinutes ?? defaultPullEveryMinutes(kind, policy.rpoHours) };
  });
}

/**
 * The vault bucket's default Object Lock retention: the longest
 * `retentionDays` of the enabled pulled kinds, so no kind's data is kept
 * shorter than it asks. Undefined when no pulled kind is enabled.
 */
export function vaultRetentionDays(config: BunkerConfig): number | undefined {
  const days = enabledPulledKinds(config).map((kind) => config.artifacts[kind].retentionDays);
  return days.length > 0 ? Math.max(...days) : undefined;
}

export function pullHandlerSettings(
  config: BunkerConfig,
  backupKeyArn: string,
  pullQueueUrl: string,
  partition = 'aws',
): PullHandlerSettings {
  const names = vaultNames(config.name);
  return {
    prefix: config.name,
    partition,
    backupAccount: config.backup.account,
    backupRegion: config.backup.region,
    inventoryTable: names.inventoryTable,
    pullScopeIndex: names.inventoryPullScopeIndex,
    vaultBucket: vaultBucketName(config.name, config.backup.account, config.backup.region),
    backupKeyArn,
    pullQueueUrl,
    sources: config.sources.map(({ account, regions }) => ({ account, regions })),
    pull: pullSettings(config),
  };
}

/** Every enabled kind as the auditor names it (`Kind` dimension), labelled by its config key, with its RPO in hours. */
export function enabledKindRpos(config: BunkerConfig): { kind: string; label: string; rpoHours: number }[] {
  return [
    ...enabledKinds(config).map((k) => ({
      kind: k.name,
      label: k.configKey,
      rpoHours: config.artifacts[k.configKey].rpoHours,
    })),
    ...enabledPulledKinds(config).map((key) => ({
      kind: PULLED_KIND_OF[key],
      label: key,
      rpoHours: config.artifacts[key].rpoHours,
    })),
  ];
}

/** The drill handler's settings: the config's `drills`, the enabled kinds, and the isolated place the stack built. */
export function drillSettings(
  config: BunkerConfig,
  backupKeyArn: string,
  place: DrillPlace,
  alertsTopicArn: string,
  partition = 'aws',
): DrillSettings {
  const kinds = [...enabledKinds(config).map((k) => k.configKey), ...enabledPulledKinds(config)];
  return {
    prefix: config.name,
    partition,
    backupAccount: config.backup.account,
    backupRegion: config.backup.region,
    inventoryTable: vaultNames(config.name).inventoryTable,
    backupKeyArn,
    vaultBucket: vaultBucketName(config.name, config.backup.account, config.backup.region),
    place,
    targetSeconds: Object.fromEntries(
      Object.entries(config.drills.restoreTargetMinutes).map(([kind, minutes]) => [kind, minutes * 60]),
    ) as DrillSettings['targetSeconds'],
    olderCopies: config.drills.olderCopies,
    maxAgeDays: config.drills.maxAgeDays,
    kinds,
    alertsTopicArn,
    maxPerRun: config.drills.maxPerRun,
  };
}
