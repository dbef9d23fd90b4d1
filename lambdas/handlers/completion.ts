/**
 * Lambda: copy events in the backup account, of every kind (RDS snapshot
 * and cluster snapshot events, EBS copySnapshot results, AMI state
 * changes). The event only says which copy to look at; the copy itself is
 * re-read before the inventory changes.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import * as z from 'zod/mini';
import { eventBridgeShape } from '../adapters/eventbridge';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { vaultDeps } from '../adapters/wiring';
import { type CompletionOutcome, handleCopyEvent } from '../core/pipeline/completion';
import type { VaultDeps } from '../core/pipeline/copy';
import { vaultSettingsFromEnv } from '../core/settings';

/** Built at its first parse, not when the bundle loads (see lambdas/core/settings.ts). */
export const CopyEventSchema = z.lazy(() =>
  z.object({ ...eventBridgeShape(), detail: z.record(z.string(), z.unknown()) }),
);

export function createCompletionHandler(deps: VaultDeps, metrics?: Metrics) {
  return async (event: unknown): Promise<CompletionOutcome> => {
    const parsed = CopyEventSchema.safeParse(event);
    if (!parsed.success) {
      deps.log.warn('ignoring an event that is not an EventBridge event', { issues: parsed.error.issues.length });
      return { outcome: 'ignored', reason: 'not an EventBridge event' };
    }
    const outcome = await handleCopyEvent(parsed.data['detail-type'], parsed.data.detail, deps);
    deps.log.info('copy event handled', {
      eventId: parsed.data.id,
      detailType: parsed.data['detail-type'],
      ...outcome,
    });
    if (outcome.outcome === 'settled') metrics?.addMetric(`CopyEvent-${outcome.step}`, MetricUnit.Count, 1);
    metrics?.publishStoredMetrics();
    return outcome;
  };
}

let wired: ReturnType<typeof createCompletionHandler> | undefined;

export const handler = (event: unknown): Promise<CompletionOutcome> => {
  wired ??= (() => {
    const settings = vaultSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-completion'));
    const metrics = newMetrics('bunker-completion');
    return createCompletionHandler(vaultDeps(settings, { region: settings.backupRegion }, log), metrics);
  })();
  return wired(event);
};
