/**
 * Lambda: the daily pruner. Deletes the copies and stored value versions
 * past their retention (never a resource's newest), records each deleted
 * copy in the inventory, and publishes what it did as metrics, so a lock or
 * a refusal shows on the dashboard instead of being retried.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { pruneDeps } from '../adapters/retention/wiring';
import { prune, type PruneDeps, type PruneSummary } from '../core/retention/prune';
import { retentionSettingsFromEnv } from '../core/retention/settings';
import { vaultSettingsFromEnv } from '../core/settings';

export function createPrunerHandler(deps: PruneDeps, metrics?: Metrics) {
  return async (): Promise<PruneSummary> => {
    const summary = await prune(deps);
    deps.log.info('pruner finished', { ...summary });
    if (metrics) {
      metrics.addMetric('CopiesExpired', MetricUnit.Count, summary.expired);
      metrics.addMetric('CopiesLockedAtExpiry', MetricUnit.Count, summary.locked);
      metrics.addMetric('CopiesNotDeleted', MetricUnit.Count, summary.refused);
      metrics.addMetric('CopiesNotBunkers', MetricUnit.Count, summary.notBunkers);
      metrics.addMetric('ValueVersionsExpired', MetricUnit.Count, summary.versionsDeleted);
      metrics.addMetric('TableDumpsExpired', MetricUnit.Count, summary.dumpsDeleted);
      metrics.addMetric('VaultObjectsLockedAtExpiry', MetricUnit.Count, summary.versionsKept + summary.dumpObjectsKept);
      metrics.publishStoredMetrics();
    }
    return summary;
  };
}

let wired: ReturnType<typeof createPrunerHandler> | undefined;

export const handler = (): Promise<PruneSummary> => {
  wired ??= (() => {
    const vault = vaultSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-pruner'));
    const metrics = newMetrics('bunker-pruner');
    return createPrunerHandler(
      pruneDeps(vault, retentionSettingsFromEnv(), { region: vault.backupRegion }, log),
      metrics,
    );
  })();
  return wired();
};
