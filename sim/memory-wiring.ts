/**
 * The core's dependencies over the memory doubles of `./memory-aws`, as
 * `vaultDeps` and `agentDeps` wire the real ones: what the core's tests
 * build their vault and source agents from.
 */
import type { IntakeDeps } from '../lambdas/core/pipeline/intake';
import { type Clock, type Log, silentLog } from '../lambdas/core/ports';
import type { AgentDeps } from '../lambdas/core/rds-source-agent';
import type { KindsSettings, RegisteredSource, ScopeSetting, SourceSettings } from '../lambdas/core/settings';
import { KIND_NAMES } from '../lambdas/kinds/registry';
import type { ArtifactCopier, Copiers, KindName } from '../lambdas/kinds/types';
import { type MemoryInventory, type MemoryPublisher, type MemoryRdsWorld, MemoryReceipts } from './memory-aws';

const SCOPE: ScopeSetting = { tag: { key: 'backup', value: 'daily' } };

// ---------------------------------------------------------------------------
// Wiring: the core's dependencies over the memory world
// ---------------------------------------------------------------------------

export interface MemoryVaultOptions {
  readonly world: MemoryRdsWorld;
  readonly inventory: MemoryInventory;
  readonly clock: Clock;
  readonly backupAccount: string;
  readonly backupRegion: string;
  readonly backupKeyArn: string;
  readonly sources: readonly RegisteredSource[];
  /** The vault's limit on RDS DB snapshot copies in progress per Region. */
  readonly maxRdsCopiesInProgress: number;
  /** Which RDS snapshots the vault accepts. @default the simulation's tag scope, backup=daily */
  readonly scope?: ScopeSetting;
  /** Where the vault's receipts go. @default - a fresh one */
  readonly receipts?: MemoryReceipts;
  /** Also copy into this Region of the backup account, under `secondKeyArn`. @default - no second hop */
  readonly secondRegion?: string;
  readonly secondKeyArn?: string;
  /** @default silentLog */
  readonly log?: Log;
}

/** The kinds the memory world does not model (yet): any call says so instead of pretending. */
function unmodelledCopier(kind: KindName): ArtifactCopier {
  const refuse = () => Promise.reject(new Error(`the memory world does not model ${kind}`));
  return { kind, describeSource: refuse, listShared: refuse, copy: refuse, describeCopy: refuse };
}

/** The vault's kind settings with only RDS DB snapshots enabled, as the simulation runs them. */
export function rdsOnlyKinds(scope: ScopeSetting, copyLimit: number): KindsSettings {
  return Object.fromEntries(
    KIND_NAMES.map((name) => [name, { enabled: name === 'rds-snapshot', scope, copyLimit }]),
  ) as unknown as KindsSettings;
}

/** The vault's dependencies (intake, completion, sweep) over the memory world, as `vaultDeps` wires the real ones. */
export function memoryVaultDeps(options: MemoryVaultOptions): IntakeDeps {
  const copiers = Object.fromEntries(
    KIND_NAMES.map((name) => [
      name,
      name === 'rds-snapshot' ? options.world.copier(options.backupAccount) : unmodelledCopier(name),
    ]),
  ) as unknown as Copiers;
  return {
    settings: {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: options.backupAccount,
      backupRegion: options.backupRegion,
      backupKeyArn: options.backupKeyArn,
      sources: options.sources,
      kinds: rdsOnlyKinds(options.scope ?? SCOPE, options.maxRdsCopiesInProgress),
      ...(options.secondRegion ? { secondRegion: options.secondRegion } : {}),
    },
    ...(options.secondRegion && options.secondKeyArn
      ? {
          keys: {
            keyFor: async (region: string) => {
              if (region !== options.secondRegion) throw new Error(`no backup-data key for ${region}`);
              return options.secondKeyArn as string;
            },
          },
        }
      : {}),
    inventory: options.inventory,
    copiers,
    receipts: options.receipts ?? new MemoryReceipts(options.inventory.monitor),
    clock: options.clock,
    log: options.log ?? silentLog,
  };
}

/** A source agent's dependencies over the memory world, as `agentDeps` wires the real ones. */
export function memoryAgentDeps(options: {
  readonly world: MemoryRdsWorld;
  readonly publisher: MemoryPublisher;
  readonly clock: Clock;
  readonly settings: SourceSettings;
  readonly log?: Log;
}): AgentDeps {
  return {
    settings: options.settings,
    rds: options.world.sourceRds(options.settings.sourceAccount, options.settings.sourceRegion),
    publisher: options.publisher.topic(options.settings.intakeTopicArn),
    clock: options.clock,
    log: options.log ?? silentLog,
    rpoHours: options.settings.rpoHours,
  };
}
