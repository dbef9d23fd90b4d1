/**
 * Lambda: RDS copy events in the backup account (RDS-EVENT-0197/0190 in
 * Region, 0060/0061 across Regions). The event only says which copy to look
 * at; the copy itself is re-read before the inventory changes.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { z } from 'zod';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { vaultDeps } from '../adapters/wiring';
import { type CompletionOutcome, handleCopyEvent } from '../core/rds-completion';
import type { VaultDeps } from '../core/rds-copy';
import { vaultSettingsFromEnv } from '../core/settings';

export const RdsSnapshotEventSchema = EventBridgeSchema.extend({
  detail: z.object({
    SourceIdentifier: z.string().min(1),
    EventID: z.string().optional(),
    SourceArn: z.string().optional(),
  }),
});

export function createRdsCompletionHandler(deps: VaultDeps, metrics?: Metrics) {
  return async (event: unknown): Promise<CompletionOutcome> => {
    const parsed = RdsSnapshotEventSchema.safeParse(event);
    if (!parsed.success) {
      deps.log.warn('ignoring an event that is not an RDS snapshot event', { issues: parsed.error.issues.length });
      return { outcome: 'ignored', reason: 'not an RDS snapshot event' };
    }
    const outcome = await handleCopyEvent(parsed.data.detail.SourceIdentifier, deps);
    deps.log.info('copy event handled', { eventId: parsed.data.detail.EventID, ...outcome });
    if (outcome.outcome === 'settled') metrics?.addMetric(`CopyEvent-${outcome.step}`, MetricUnit.Count, 1);
    metrics?.publishStoredMetrics();
    return outcome;
  };
}

let wired: ReturnType<typeof createRdsCompletionHandler> | undefined;

export const handler = (event: unknown): Promise<CompletionOutcome> => {
  wired ??= (() => {
    const settings = vaultSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-rds-completion'));
    const metrics = newMetrics('bunker-rds-completion');
    return createRdsCompletionHandler(vaultDeps(settings, { region: settings.backupRegion }, log), metrics);
  })();
  return wired(event);
};
