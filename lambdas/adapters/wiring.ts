/**
 * Wires the real adapters into the core's use cases. Lambda handlers call
 * these once per container with the function's own context; the local mode
 * calls them with the emulator's endpoint and an account's credentials.
 * Same adapters, same core, either way.
 *
 * One wiring module per side, so a handler's bundle holds only its side's
 * clients: the vault functions import this one, the source agent
 * `./agent-wiring` (re-exported here for the local mode). Importing a
 * module that constructs a client it never uses still costs its load:
 * `@aws-sdk/lib-dynamodb` marks no module side-effect free, so its document
 * client, and the DynamoDB client under it, stay in any bundle that imports it.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SettingsError } from '../core/errors';
import { vaultNames } from '../core/names';
import type { BackupKeys, VaultDeps } from '../core/pipeline/copy';
import { RingMemory } from '../core/pipeline/schedule';
import { type Clock, type Log, systemClock } from '../core/ports';
import type { VaultSettings } from '../core/settings';
import { type AwsContext, clientConfig } from './aws-context';
import { sdkCopiers } from './copiers';
import { DynamoSourceBacklogs } from './dynamo-backlogs';
import { DynamoInventory } from './dynamo-inventory';
import { KmsBackupKeys } from './kms-keys';
import { SnsReceiptSender } from './sns-receipts';

export { agentDeps } from './agent-wiring';

/**
 * The vault's dependencies for one container (a Lambda's cold start, or a
 * local run): with the backlog board in the inventory table and a fresh
 * place in the ring, so a deployed vault schedules as the simulation
 * measured. Call it once per container: the ring's place and the last read
 * of the board live in what it returns.
 */
export function vaultDeps(
  settings: VaultSettings,
  context: AwsContext,
  log: Log,
  clock: Clock = systemClock,
): VaultDeps {
  const dynamo = new DynamoDBClient(clientConfig(context));
  return {
    settings,
    inventory: new DynamoInventory(dynamo, settings.inventoryTable, vaultNames(settings.prefix).inventoryStatusIndex),
    copiers: sdkCopiers(context, settings.prefix, settings.partition),
    receipts: new SnsReceiptSender(context, settings.prefix, settings.partition),
    ...(settings.secondRegion ? { keys: backupKeys(context, settings.prefix) } : {}),
    backlogs: new DynamoSourceBacklogs(dynamo, settings.inventoryTable),
    ring: new RingMemory(),
    clock,
    log,
  };
}

/**
 * The second Region's key lookup, behind its bundle seam (`lib/bundling.ts`):
 * a vault deployed without a second Region leaves the KMS client out. The
 * seam is defined from the same settings the function reads, so a second
 * Region the bundle was not built for means the settings were changed by
 * hand: that is refused at cold start rather than copying under no key.
 */
function backupKeys(context: AwsContext, prefix: string): BackupKeys {
  // A ternary, not an early throw: esbuild folds it and drops the branch it does not take.
  return process.env.BUNKER_BUNDLE_SECOND_REGION === 'omit'
    ? secondRegionOmitted()
    : new KmsBackupKeys(context, prefix);
}

function secondRegionOmitted(): never {
  throw new SettingsError('BUNKER_SECOND_REGION is set, but this function was bundled without a second Region');
}
