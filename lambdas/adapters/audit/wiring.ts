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
import { listedSources } from '../../core/enrolment/registry';
import type { Log, SourceRegistry } from '../../core/ports';
import { type AwsContext, clientConfig } from '../aws-context';
import { DynamoInventory } from '../dynamo-inventory';
import { sourceRegistry } from '../enrolment/wiring';
import { DynamoPulledInventory } from '../pull/dynamo-pulled';
import { ReaderRoleDiscovery } from './discovery';
import { DynamoAuditRecords } from './dynamo-audit-records';
import { SnsAlertPublisher } from './sns-alerts';

export { ENROLLED_SOURCES_ENV } from '../../core/enrolment/names';

/**
 * Whose resources the audit discovers: with organizational units the listed
 * sources and the active enrolments of the inventory table (one scan per
 * audit), without them the listed sources alone (no scan for records that
 * cannot exist).
 */
export function auditSources(settings: AuditHandlerSettings, context: AwsContext, enrolled: boolean): SourceRegistry {
  const listed = settings.audit.sources.map(({ account, regions }) => ({ account, regions: [...regions] }));
  return enrolled
    ? sourceRegistry({ sources: listed, inventoryTable: settings.inventoryTable }, context)
    : listedSources(listed);
}

/**
 * `alerts` replaces the alerts topic (`bunker status` publishes nothing);
 * `sources` defaults to the listed and enrolled accounts ({@link auditSources}).
 */
export function auditDeps(
  settings: AuditHandlerSettings,
  context: AwsContext,
  log: Log,
  alerts?: AlertPublisher,
  sources: Pick<SourceRegistry, 'all'> = auditSources(settings, context, true),
): AuditDeps {
  const dynamo = new DynamoDBClient(clientConfig(context));
  return {
    settings: settings.audit,
    sources,
    discovery: new ReaderRoleDiscovery(
      context,
      settings.audit.prefix,
      settings.partition,
      Object.keys(settings.audit.kinds),
    ),
    inventory: new DynamoInventory(dynamo, settings.inventoryTable, settings.statusIndex),
    pulled: new DynamoPulledInventory(dynamo, settings.inventoryTable, settings.pullScopeIndex),
    records: new DynamoAuditRecords(dynamo, settings.inventoryTable),
    alerts: alerts ?? new SnsAlertPublisher(new SNSClient(clientConfig(context)), settings.alertsTopicArn),
    log,
  };
}
