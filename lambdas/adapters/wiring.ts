/**
 * Wires the real adapters into the core's use cases. Lambda handlers call
 * these once per container with the function's own context; the local mode
 * calls them with the emulator's endpoint and an account's credentials.
 * Same adapters, same core, either way.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SNSClient } from '@aws-sdk/client-sns';
import { vaultNames } from '../core/names';
import type { VaultDeps } from '../core/pipeline/copy';
import { type Clock, type Log, systemClock } from '../core/ports';
import type { Ec2AgentDeps } from '../core/agent/ec2-agent';
import type { AgentDeps } from '../core/rds-source-agent';
import type { SourceSettings, VaultSettings } from '../core/settings';
import { type AwsContext, clientConfig } from './aws-context';
import { sdkCopiers } from './copiers';
import { DynamoInventory } from './dynamo-inventory';
import { KmsBackupKeys } from './kms-keys';
import { AgentEc2 } from './agent-ec2';
import { AgentRds, AgentRdsClusters } from './rds';
import { SnsNotificationPublisher } from './sns-publisher';
import { SnsReceiptSender } from './sns-receipts';

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
    ...(settings.secondRegion ? { keys: new KmsBackupKeys(context, settings.prefix) } : {}),
    clock,
    log,
  };
}

export function agentDeps(
  settings: SourceSettings,
  context: AwsContext,
  log: Log,
  clock: Clock = systemClock,
): AgentDeps & { readonly ec2Deps?: Ec2AgentDeps } {
  // The intake topic lives in the backup Region, which may differ from this one.
  const topicRegion = settings.intakeTopicArn.split(':')[3] || context.region;
  const rds = new RDSClient(clientConfig(context, settings.sourceRegion));
  const publisher = new SnsNotificationPublisher(
    new SNSClient(clientConfig(context, topicRegion)),
    settings.intakeTopicArn,
  );
  const handlesEc2 = settings.scopes['ebs-snapshot'] !== undefined || settings.scopes.ami !== undefined;
  return {
    settings,
    rds: new AgentRds(rds),
    clusters: new AgentRdsClusters(rds),
    publisher,
    clock,
    log,
    ...(handlesEc2
      ? {
          ec2Deps: {
            settings,
            ec2: new AgentEc2(new EC2Client(clientConfig(context, settings.sourceRegion)), {
              region: settings.sourceRegion,
              account: settings.sourceAccount,
            }),
            publisher,
            clock,
            log,
          },
        }
      : {}),
  };
}
