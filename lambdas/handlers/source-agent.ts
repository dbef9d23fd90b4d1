/**
 * Lambda: the source agent in a production account. A snapshot or image
 * event handles that one artifact (RDS DB and cluster snapshots, EBS
 * snapshots, AMIs); the vault's receipts (from the receipts queue) mark
 * intermediates the backup account has copied; the hourly schedule sweeps
 * for what events missed and deletes intermediates that may go.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import * as z from 'zod/mini';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { eventBridgeShape } from '../adapters/eventbridge';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { agentDeps } from '../adapters/agent-wiring';
import {
  type Ec2AgentDeps,
  processEbsSnapshot,
  processImage,
  recordEc2Receipt,
  sweepEc2Source,
} from '../core/agent/ec2-agent';
import type { SweepMode } from '../core/agent/engine';
import { parseReceipt } from '../core/receipts';
import {
  type AgentDeps,
  type AgentStep,
  type AgentSweepSummary,
  processSnapshot,
  recordReceipt,
  sweepSource,
} from '../core/rds-source-agent';
import { sourceSettingsFromEnv } from '../core/settings';
import { safeText } from '../core/text';
import { snapshotIdOfArn } from '../kinds/ebs-snapshot/kind';

// Built at their first parse, not when the bundle loads (see lambdas/core/settings.ts).
const RdsSnapshotEventSchema = z.lazy(() =>
  z.object({
    ...eventBridgeShape(),
    'detail-type': z.enum(['RDS DB Snapshot Event', 'RDS DB Cluster Snapshot Event']),
    detail: z.object({ SourceIdentifier: z.string().check(z.minLength(1)), EventID: z.optional(z.string()) }),
  }),
);

const EbsSnapshotEventSchema = z.lazy(() =>
  z.object({
    ...eventBridgeShape(),
    'detail-type': z.literal('EBS Snapshot Notification'),
    detail: z.object({ event: z.string(), result: z.optional(z.string()), snapshot_id: z.string() }),
  }),
);

const AmiEventSchema = z.lazy(() =>
  z.object({
    ...eventBridgeShape(),
    'detail-type': z.literal('EC2 AMI State Change'),
    detail: z.object({ ImageId: z.string().check(z.minLength(1)), State: z.string() }),
  }),
);

const ReceiptBatchSchema = z.lazy(() =>
  z.object({
    Records: z
      .array(z.object({ messageId: z.string(), body: z.string(), eventSource: z.literal('aws:sqs') }))
      .check(z.minLength(1)),
  }),
);

export type AgentResult =
  { readonly snapshot: string; readonly step: AgentStep } | AgentSweepSummary | SQSBatchResponse;

/** The agent's dependencies, with the EC2 side when the account's EBS snapshots or AMIs are in scope. */
export type SourceAgentDeps = AgentDeps & { readonly ec2Deps?: Ec2AgentDeps };

/** The metric a horizon deletion counts: the source stack's alarm watches it. */
export const EXPIRED_UNCOPIED_METRIC = 'IntermediatesExpiredUncopied';
/** The metric of in-scope originals past the horizon that were never copied. */
export const AGED_OUT_UNCOPIED_METRIC = 'SnapshotsAgedOutUncopied';

/**
 * `sweepMode`: what a sweep lists. `scheduled`: each kind when due
 * (`sweepDue` in `lambdas/core/agent/engine.ts`: hourly where the
 * environment knows of work, else every `QUIET_SWEEP_HOURS`), what the
 * deployed function runs when its stack sets `BUNKER_AGENT_SWEEP`; `full`:
 * everything each time, as `bunker local run` and the tests sweep.
 */
export function createSourceAgentHandler(deps: SourceAgentDeps, metrics?: Metrics, sweepMode: SweepMode = 'full') {
  const ec2 = deps.ec2Deps;
  return async (event: unknown): Promise<AgentResult> => {
    const receipts = ReceiptBatchSchema.safeParse(event);
    if (receipts.success) {
      const batchItemFailures: { itemIdentifier: string }[] = [];
      for (const record of receipts.data.Records) {
        const parsed = parseReceipt(record.body);
        if (!parsed.ok) {
          // A receipt that is not one is dropped with a word: retrying it would not make it one.
          deps.log.warn('not a receipt', { reason: parsed.reason, messageId: safeText(record.messageId, 80) });
          continue;
        }
        try {
          const { receipt } = parsed;
          const step =
            receipt.kind === 'ebs-snapshot' || receipt.kind === 'ami'
              ? ec2
                ? await recordEc2Receipt(receipt, ec2)
                : 'not-handled'
              : await recordReceipt(receipt, deps);
          deps.log.info('receipt handled', { kind: receipt.kind, id: receipt.id, step });
        } catch (error) {
          deps.log.error('receipt could not be recorded; it comes back', { error: String(error) });
          batchItemFailures.push({ itemIdentifier: record.messageId });
        }
      }
      return { batchItemFailures };
    }
    const rdsEvent = RdsSnapshotEventSchema.safeParse(event);
    if (rdsEvent.success) {
      const snapshot = rdsEvent.data.detail.SourceIdentifier;
      const kind =
        rdsEvent.data['detail-type'] === 'RDS DB Cluster Snapshot Event' ? 'aurora-cluster-snapshot' : 'rds-snapshot';
      const step = await processSnapshot(snapshot, deps, kind);
      deps.log.info('snapshot event handled', { snapshot, eventId: rdsEvent.data.detail.EventID, step });
      return { snapshot, step };
    }
    const ebsEvent = EbsSnapshotEventSchema.safeParse(event);
    if (ebsEvent.success && ec2) {
      const snapshot = snapshotIdOfArn(ebsEvent.data.detail.snapshot_id) ?? '';
      const ok = ebsEvent.data.detail.result === undefined || ebsEvent.data.detail.result === 'succeeded';
      const step: AgentStep = snapshot && ok ? await processEbsSnapshot(snapshot, ec2) : 'gone';
      deps.log.info('EBS snapshot event handled', { snapshot, step });
      return { snapshot, step };
    }
    const amiEvent = AmiEventSchema.safeParse(event);
    if (amiEvent.success && ec2) {
      const image = amiEvent.data.detail.ImageId;
      const step: AgentStep = amiEvent.data.detail.State === 'available' ? await processImage(image, ec2) : 'pending';
      deps.log.info('AMI event handled', { image, step });
      return { snapshot: image, step };
    }
    // Anything else (the hourly schedule) is a sweep: safe to run at any time.
    const rds = await sweepSource(deps, sweepMode);
    const summary = ec2 ? mergeSummaries(rds, await sweepEc2Source(ec2, sweepMode)) : rds;
    deps.log.info('source sweep finished', { ...summary });
    if (metrics) {
      // Zero included, so the alarm sees data every hour and a missing sweep is not mistaken for a quiet one.
      metrics.addMetric(EXPIRED_UNCOPIED_METRIC, MetricUnit.Count, summary.expiredUncopied);
      metrics.addMetric(AGED_OUT_UNCOPIED_METRIC, MetricUnit.Count, summary.agedOutUncopied);
      metrics.publishStoredMetrics();
    }
    return summary;
  };
}

function mergeSummaries(a: AgentSweepSummary, b: AgentSweepSummary): AgentSweepSummary {
  const steps: Partial<Record<AgentStep, number>> = { ...a.steps };
  for (const [step, n] of Object.entries(b.steps) as [AgentStep, number][]) steps[step] = (steps[step] ?? 0) + n;
  return {
    examined: a.examined + b.examined,
    steps,
    deleted: a.deleted + b.deleted,
    expiredUncopied: a.expiredUncopied + b.expiredUncopied,
    agedOutUncopied: a.agedOutUncopied + b.agedOutUncopied,
  };
}

/** The variable the source stack sets to `scheduled` on the agent function. */
export const SWEEP_MODE_ENV = 'BUNKER_AGENT_SWEEP';

/** The schedule's sweep mode from the function's environment: `scheduled` only when set so, else `full`. */
export function sweepModeFromEnv(env: Readonly<Record<string, string | undefined>>): SweepMode {
  return env[SWEEP_MODE_ENV] === 'scheduled' ? 'scheduled' : 'full';
}

let wired: ReturnType<typeof createSourceAgentHandler> | undefined;

export const handler = (event: unknown): Promise<AgentResult> => {
  wired ??= (() => {
    const settings = sourceSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-source-agent'));
    const metrics = newMetrics('bunker-source-agent');
    return createSourceAgentHandler(
      agentDeps(settings, { region: settings.sourceRegion }, log),
      metrics,
      sweepModeFromEnv(process.env),
    );
  })();
  return wired(event);
};
