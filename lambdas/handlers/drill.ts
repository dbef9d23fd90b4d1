/**
 * Lambda: restore drills. The vault stack's state machine (`<name>-drill`)
 * calls it to plan, then to advance each drill one step at a time with a
 * Wait state in between, and on a schedule to check how long each kind and
 * source account has gone without a proven restore. The payloads are in
 * `lambdas/core/drill/actions.ts`.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { isBackPressure } from '../adapters/drill/checks';
import { drillModules } from '../adapters/drill/modules';
import { drillPorts, retentionDaysFromEnv } from '../adapters/drill/wiring';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { type DrillActionDeps, parseDrillRequest, runDrillAction } from '../core/drill/actions';
import { drillSettingsFromEnv } from '../core/drill/settings';
import type { DrillState } from '../core/drill/types';
import type { Log } from '../core/ports';
import { systemClock } from '../core/ports';

/**
 * One metric with exactly the given dimensions (no `service`), flushed at
 * once: the alarms of the vault stack watch these dimensions.
 */
export function publishMetric(
  metrics: Metrics,
  name: string,
  value: number,
  dimensions: Readonly<Record<string, string>> = {},
): void {
  const single = metrics.singleMetric();
  single.clearDefaultDimensions();
  for (const [key, dimension] of Object.entries(dimensions)) single.addDimension(key, dimension);
  single.addMetric(name, name.startsWith('Days') ? MetricUnit.NoUnit : MetricUnit.Count, value);
}

/** An alert's subject: its first line, as SNS allows (100 characters). */
export const alertSubject = (text: string) => text.split('\n')[0].slice(0, 100);

export function createDrillHandler(deps: DrillActionDeps, log: Log) {
  return async (event: unknown) => {
    const request = parseDrillRequest(event);
    const answer = await runDrillAction(request, deps);
    if (request.action === 'plan') {
      log.info('drills planned', { drills: (answer as { drills: DrillState[] }).drills.map((d) => d.drillId) });
    } else if (request.action === 'advance') {
      const state = answer as DrillState;
      const fields = { drillId: state.drillId, phase: state.phase, waitSeconds: state.waitSeconds };
      if (state.done && state.failure) log.warn('drill failed', { ...fields, failure: state.failure });
      else log.info(state.done ? 'drill passed' : 'drill step', fields);
    } else {
      log.info('drill staleness checked', { ...answer });
    }
    return answer;
  };
}

let wired: ReturnType<typeof createDrillHandler> | undefined;

export const handler = (event: unknown) => {
  wired ??= (() => {
    const settings = drillSettingsFromEnv();
    const context = { region: settings.backupRegion };
    const log = powertoolsLog(newLogger('bunker-drill'));
    const metrics = newMetrics('bunker-drill');
    const ports = drillPorts(context, settings);
    const retentionDays = retentionDaysFromEnv();
    return createDrillHandler(
      {
        settings,
        clock: systemClock,
        log: ports.log,
        planInput: ports.planInput,
        random: Math.random,
        ...(retentionDays ? { retentionDays } : {}),
        engine: {
          modules: drillModules(context, settings),
          alert: (text) => ports.alert(alertSubject(text), text),
          metrics: (name, kind, value) => publishMetric(metrics, name, value, { Kind: kind }),
          backPressure: isBackPressure,
        },
        metric: (name, value, dimensions) => publishMetric(metrics, name, value, dimensions),
      },
      log,
    );
  })();
  return wired(event);
};
