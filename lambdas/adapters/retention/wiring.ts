/**
 * Wires the pruner's adapters into its use case: the Lambda handler with the
 * function's own context, the local mode and the tests with the emulator's.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { vaultNames } from '../../core/names';
import { type Clock, type Log, systemClock } from '../../core/ports';
import type { PruneDeps } from '../../core/retention/prune';
import type { RetentionSettings } from '../../core/retention/settings';
import type { VaultSettings } from '../../core/settings';
import type { KindName } from '../../kinds/types';
import { type AwsContext, clientConfig } from '../aws-context';
import { sdkCopiers } from '../copiers';
import { DynamoInventory } from '../dynamo-inventory';
import { vaultS3Client } from '../pull/s3-vault-store';
import { S3VaultVersions, sdkCopyDeleters } from './deleters';

export function pruneDeps(
  vault: Pick<VaultSettings, 'prefix' | 'partition' | 'inventoryTable'>,
  retention: RetentionSettings,
  context: AwsContext,
  log: Log,
  clock: Clock = systemClock,
): PruneDeps {
  const dynamo = new DynamoDBClient(clientConfig(context));
  return {
    policies: retention.policies,
    inventory: new DynamoInventory(dynamo, vault.inventoryTable, vaultNames(vault.prefix).inventoryStatusIndex),
    // The copiers' describeCopy re-reads each copy's tags before it is deleted.
    readers: sdkCopiers(context, vault.prefix, vault.partition),
    deleters: sdkCopyDeleters(context, Object.keys(retention.policies.copies) as KindName[]),
    ...(retention.vaultBucket ? { values: new S3VaultVersions(vaultS3Client(context), retention.vaultBucket) } : {}),
    clock,
    log,
  };
}
