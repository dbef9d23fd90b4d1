/**
 * The drill's ports on the SDK, shared by the drill handler and `bunker
 * drill` against the emulator: the inventory's copies and pulled records
 * (what to drill), the vault store's listing (older held versions), the
 * drill log, the alerts topic.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { heldVersions } from '../../core/drill/held';
import type { OlderHeld, PlanInput } from '../../core/drill/plan';
import type { DrillSettings } from '../../core/drill/settings';
import type { DrillKind } from '../../core/drill/types';
import { vaultNames } from '../../core/names';
import { retentionSettingsFromEnv } from '../../core/retention/settings';
import { KINDS } from '../../kinds/registry';
import type { KindName } from '../../kinds/types';
import { type AwsContext, clientConfig } from '../aws-context';
import { SnsAlertPublisher } from '../audit/sns-alerts';
import { DynamoInventory } from '../dynamo-inventory';
import { DynamoPulledInventory } from '../pull/dynamo-pulled';
import { S3VaultStore, vaultS3Client } from '../pull/s3-vault-store';
import { DynamoDrillLog } from './dynamo-drill-log';

/** What a drill reads and writes, in the backup account's home Region. */
export function drillPorts(ctx: AwsContext, settings: DrillSettings) {
  const context = { ...ctx, region: settings.backupRegion };
  const dynamo = new DynamoDBClient(clientConfig(context));
  const names = vaultNames(settings.prefix);
  const inventory = new DynamoInventory(dynamo, settings.inventoryTable, names.inventoryStatusIndex);
  const pulled = new DynamoPulledInventory(dynamo, settings.inventoryTable, names.inventoryPullScopeIndex);
  const store = new S3VaultStore(vaultS3Client(context), settings.vaultBucket, settings.backupKeyArn);
  const alerts = new SnsAlertPublisher(new SNSClient(clientConfig(context)), settings.alertsTopicArn);
  return {
    log: new DynamoDrillLog(dynamo, settings.inventoryTable),
    /** The copies and held resources; with `older`, each held resource's stored versions too. */
    async planInput(older: boolean): Promise<PlanInput> {
      const copies = await inventory.listByStatus('available');
      const held = (await pulled.list()).filter((record) => record.state === 'held');
      const olderPulled = new Map<string, readonly OlderHeld[]>();
      if (older) {
        for (const record of held) olderPulled.set(record.artifactId, await heldVersions(store, record));
      }
      return { copies, pulled: held, olderPulled };
    },
    /** Publishes to the alerts topic (e-mailed to `alerts.emails`). */
    alert: (subject: string, text: string) => alerts.publish(subject, text),
  };
}

/**
 * Each kind's retention in days, when the function is also given the
 * pruner's settings (`BUNKER_RETENTION`); `undefined` otherwise, and an
 * older copy is then any `available` one (the pruner expires the rest).
 */
export function retentionDaysFromEnv(
  env: Record<string, string | undefined> = process.env,
): Partial<Record<DrillKind, number>> | undefined {
  if (!env.BUNKER_RETENTION) return undefined;
  const { policies } = retentionSettingsFromEnv(env);
  const days: Partial<Record<DrillKind, number>> = {};
  for (const [name, policy] of Object.entries(policies.copies)) {
    if (policy) days[KINDS[name as KindName].configKey] = policy.retentionDays;
  }
  if (policies.values.ssm) days.ssm = policies.values.ssm.retentionDays;
  if (policies.values.secrets) days.secrets = policies.values.secrets.retentionDays;
  if (policies.tables) days.dynamodb = policies.tables.retentionDays;
  return days;
}
