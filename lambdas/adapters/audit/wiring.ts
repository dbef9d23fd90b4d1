/**
 * The auditor's adapters: discovery through the reader roles, the copy and
 * pulled records and the audit records of the inventory, and the alerts
 * topic. The Lambda, `bunker status` and `bunker local run` wire them here.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import type { AuditDeps } from '../../core/audit/audit';
import type { AuditHandlerSettings } from '../../core/audit/settings';
import type { AlertPublisher } from '../../core/audit/types';
import type { Log } from '../../core/ports';
import { type AwsContext, clientConfig } from '../aws-context';
import { DynamoInventory } from '../dynamo-inventory';
import { DynamoPulledInventory } from '../pull/dynamo-pulled';
import { ReaderRoleDiscovery } from './discovery';
import { DynamoAuditRecords } from './dynamo-audit-records';
import { SnsAlertPublisher } from './sns-alerts';

/** `alerts` replaces the alerts topic (`bunker status` publishes nothing). */
export function auditDeps(
  settings: AuditHandlerSettings,
  context: AwsContext,
  log: Log,
  alerts?: AlertPublisher,
): AuditDeps {
  const dynamo = new DynamoDBClient(clientConfig(context));
  return {
    settings: settings.audit,
    discovery: new ReaderRoleDiscovery(context, settings.audit.prefix, settings.partition),
    inventory: new DynamoInventory(dynamo, settings.inventoryTable, settings.statusIndex),
    pulled: new DynamoPulledInventory(dynamo, settings.inventoryTable, settings.pullScopeIndex),
    records: new DynamoAuditRecords(dynamo, settings.inventoryTable),
    alerts: alerts ?? new SnsAlertPublisher(new SNSClient(clientConfig(context)), settings.alertsTopicArn),
    log,
  };
}
