/**
 * Lambda: the source agent in a production account. An RDS DB snapshot or
 * cluster snapshot event handles that one snapshot; the hourly schedule
 * sweeps for what events missed and cleans up expired intermediates.
 */
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import { z } from 'zod';
import { newLogger, powertoolsLog } from '../adapters/log';
import { agentDeps } from '../adapters/wiring';
import {
  type AgentDeps,
  type AgentStep,
  type AgentSweepSummary,
  processSnapshot,
  sweepSource,
} from '../core/rds-source-agent';
import { sourceSettingsFromEnv } from '../core/settings';

const SnapshotEventSchema = EventBridgeSchema.extend({
  'detail-type': z.enum(['RDS DB Snapshot Event', 'RDS DB Cluster Snapshot Event']),
  detail: z.object({ SourceIdentifier: z.string().min(1), EventID: z.string().optional() }),
});

export type AgentResult = { readonly snapshot: string; readonly step: AgentStep } | AgentSweepSummary;

export function createSourceAgentHandler(deps: AgentDeps) {
  return async (event: unknown): Promise<AgentResult> => {
    const snapshotEvent = SnapshotEventSchema.safeParse(event);
    if (snapshotEvent.success) {
      const snapshot = snapshotEvent.data.detail.SourceIdentifier;
      const kind =
        snapshotEvent.data['detail-type'] === 'RDS DB Cluster Snapshot Event'
          ? 'aurora-cluster-snapshot'
          : 'rds-snapshot';
      const step = await processSnapshot(snapshot, deps, kind);
      deps.log.info('snapshot event handled', { snapshot, eventId: snapshotEvent.data.detail.EventID, step });
      return { snapshot, step };
    }
    // Anything else (the hourly schedule) is a sweep: safe to run at any time.
    const summary = await sweepSource(deps);
    deps.log.info('source sweep finished', { ...summary });
    return summary;
  };
}

let wired: ReturnType<typeof createSourceAgentHandler> | undefined;

export const handler = (event: unknown): Promise<AgentResult> => {
  wired ??= (() => {
    const settings = sourceSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-source-agent'));
    return createSourceAgentHandler(agentDeps(settings, { region: settings.sourceRegion }, log));
  })();
  return wired(event);
};
