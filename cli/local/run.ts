/**
 * `bunker local run`: the whole pipeline on the emulator, driven by the very
 * handler functions that run in Lambda, until nothing is pending.
 *
 * What AWS would do between the functions is done here instead: the
 * schedule invokes each source agent's sweep; SQS is polled and handed to the
 * intake handler in batches (failed items come back later, as with an event
 * source mapping); for each copy in progress the completion handler gets the
 * event its kind's service would send when it finishes; the vault sweep runs
 * every round; and each source's receipts queue is handed to its agent.
 *
 * With `organization`, enrolment runs first, as its hourly schedule would:
 * the real enrolment handler, as the enrolment role, gives each account of
 * the units its intake topic and enrolment record.
 *
 * Pulled backups run next: each pull that its schedule would have started
 * by now (or every one, with `pullNow`) is queued on the pull queue as its
 * EventBridge rule would queue it, and with `organization` each pulled
 * kind's fan-out job too, as the kind's enrolled rule would; the queue,
 * fanned-out jobs and continuations included, is handed to the pull
 * handler until it is empty.
 *
 * Then the pruner, as its daily schedule would: the real pruner handler, as
 * the retention role, deleting what is past its retention by the run's
 * clock and printing each copy it expired.
 *
 * The auditor runs last, as its schedule would after the copies settled:
 * the real audit handler, as the audit role, publishing breach alerts to
 * the emulator's alerts topic.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { clientConfig } from '../../lambdas/adapters/aws-context';
import { DynamoPulledInventory } from '../../lambdas/adapters/pull/dynamo-pulled';
import { enrolmentDeps, sourceRegistry } from '../../lambdas/adapters/enrolment/wiring';
import { pullJobRunner } from '../../lambdas/adapters/pull/wiring';
import { agentDeps, vaultDeps } from '../../lambdas/adapters/wiring';
import { type CopyStatus, COPY_STATUSES, type InventoryRecord } from '../../lambdas/core/inventory';
import { sourceNames, vaultNames } from '../../lambdas/core/names';
import { type Clock, type Log, type SourceRegistry, systemClock } from '../../lambdas/core/ports';
import { type PullSchedule, pullsDue } from '../../lambdas/core/pull/schedule';
import { enrolmentRoleName } from '../../lambdas/core/enrolment/names';
import type { EnrolmentSummary } from '../../lambdas/core/enrolment/enrol';
import type { PullFanOutJob, PullJob, PullRunRecord, PullRunSummary } from '../../lambdas/core/pull/types';
import type { AgentSweepSummary } from '../../lambdas/core/rds-source-agent';
import { auditDeps } from '../../lambdas/adapters/audit/wiring';
import { type AuditSummary, createAuditHandler } from '../../lambdas/handlers/audit';
import { createCompletionHandler } from '../../lambdas/handlers/completion';
import { createEnrolmentHandler } from '../../lambdas/handlers/enrolment';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import { createPrunerHandler } from '../../lambdas/handlers/pruner';
import { pruneDeps } from '../../lambdas/adapters/retention/wiring';
import type { PruneSummary } from '../../lambdas/core/retention/prune';
import { safeText } from '../../lambdas/core/text';
import { createPullHandler } from '../../lambdas/handlers/pull';
import { createSourceAgentHandler } from '../../lambdas/handlers/source-agent';
import { createSweepHandler } from '../../lambdas/handlers/sweep';
import { KINDS } from '../../lambdas/kinds/registry';
import {
  pullFanOutSchedules,
  pullHandlerSettings,
  pullSchedules,
  sourceSettings,
  vaultSettings,
} from '../../lib/config/runtime';
import type { BunkerConfig } from '../../lib/config/schema';
import { alertsTopicName, auditHandlerSettings } from '../../lib/constructs/audit';
import { enrolmentSettings } from '../../lib/constructs/enrolment';
import { retentionRoleName } from '../../lib/constructs/pull';
import { retentionSettings } from '../../lib/constructs/retention';
import { localContext } from './accounts';
import { type LocalEnvironment, localUp } from './up';

export interface LocalRunOptions {
  /** Stop after this many rounds even if work is pending. @default 20 */
  readonly maxRounds?: number;
  readonly progress?: (line: string) => void;
  readonly log?: Log;
  readonly clock?: Clock;
  /** Run every pull now, whatever its schedule (`--pull-now`). @default false */
  readonly pullNow?: boolean;
}

export interface LocalRunSummary {
  readonly rounds: number;
  /** Notifications the source agents published. */
  readonly notified: number;
  /** Messages the intake handler consumed (accepted or rejected). */
  readonly messagesProcessed: number;
  /** Messages still in the intake queue or its dead-letter queue. */
  readonly messagesLeft: number;
  readonly deadLetters: number;
  readonly byStatus: Readonly<Record<CopyStatus, number>>;
  /** False when `maxRounds` ran out with work pending. */
  readonly settled: boolean;
  /** The pull runs of this local run, continuations included, in the order they ran. */
  readonly pulls: readonly PullRunSummary[];
  /** What enrolment did before the pulls, with `organization` (absent when it failed: see the progress lines). */
  readonly enrolment?: EnrolmentSummary;
  /** What the auditor found after the rounds (absent when it failed: see the progress lines). */
  readonly audit?: AuditSummary;
  /** What the pruner did after the rounds (absent when nothing is enabled, or it failed: see the progress lines). */
  readonly prune?: PruneSummary;
}

function eventBridgeEvent(detailType: string, source: string, account: string, region: string, detail: object) {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': detailType,
    source,
    account,
    time: new Date().toISOString(),
    region,
    resources: [],
    detail,
  };
}

export async function localRun(
  config: BunkerConfig,
  endpoint: string,
  options: LocalRunOptions = {},
): Promise<LocalRunSummary> {
  const progress = options.progress ?? (() => {});
  const clock = options.clock ?? systemClock;
  const log: Log = options.log ?? { info() {}, warn() {}, error() {} };
  const maxRounds = options.maxRounds ?? 20;
  const env = await localUp(config, endpoint);
  const { account: backupAccount, region: backupRegion } = config.backup;
  const enrolment = config.organization
    ? await runEnrolment(config, endpoint, env, { progress, log, clock })
    : undefined;
  const pulls = await runDuePulls(config, endpoint, env, { progress, log, clock, all: options.pullNow ?? false });

  const vaultContext = await localContext(endpoint, backupAccount, backupRegion, vaultNames(config.name).intakeRole);
  const deps = vaultDeps(vaultSettings(config, env.backupKeyArn), vaultContext, log, clock);
  const intake = createIntakeHandler(deps);
  const completion = createCompletionHandler(deps);
  const sweep = createSweepHandler(deps);
  const agents = await Promise.all(
    env.sources.map(async (source) => {
      const context = await localContext(
        endpoint,
        source.account,
        source.region,
        sourceNames(config.name, source.region).agentRole,
      );
      const settings = sourceSettings(config, source.account, source.region, source.shareKeyArn);
      const sqs = new SQSClient(clientConfig(context, source.region));
      const { QueueUrl } = await sqs.send(
        new GetQueueUrlCommand({ QueueName: sourceNames(config.name, source.region).receiptsQueue }),
      );
      if (!QueueUrl) throw new Error(`no receipts queue in ${source.account}/${source.region}: run local up`);
      return {
        label: `${source.account}/${source.region}`,
        account: source.account,
        region: source.region,
        invoke: createSourceAgentHandler(agentDeps(settings, context, log, clock)),
        receipts: { sqs, queueUrl: QueueUrl },
      };
    }),
  );
  const sqs = new SQSClient(clientConfig(vaultContext));

  let notified = 0;
  let messagesProcessed = 0;
  let rounds = 0;
  let settled = false;
  while (rounds < maxRounds) {
    rounds += 1;
    let agentsBusy = false;
    if (Object.values(config.artifacts).some((policy) => policy.enabled)) {
      for (const agent of agents) {
        const result = (await agent.invoke(
          eventBridgeEvent('Scheduled Event', 'aws.events', agent.account, agent.region, {}),
        )) as AgentSweepSummary;
        const sent = result.steps.notified ?? 0;
        notified += sent;
        agentsBusy ||= (result.steps.rekeying ?? 0) + (result.steps.pending ?? 0) > 0;
        if (sent > 0 || result.deleted > 0) {
          progress(
            `source ${agent.label}: ${sent} snapshot(s) shared and announced, ${result.deleted} copied intermediate(s) deleted`,
          );
        }
      }
    }

    const consumed = await drainQueue(sqs, env.queueUrl, intake);
    messagesProcessed += consumed.processed;
    if (consumed.processed > 0) {
      progress(`intake: ${consumed.processed} message(s) consumed, ${consumed.retried} left for a retry`);
    }

    // The event each kind's service sends when a copy finishes (the emulator sends none).
    for (const record of await deps.inventory.listByStatus('copying')) {
      if (!record.targetId || record.kind === 'unknown') continue;
      const event = KINDS[record.kind].finishedCopyEvent(record.targetId, backupRegion, 'aws');
      await completion(eventBridgeEvent(event.detailType, event.source, backupAccount, backupRegion, event.detail));
    }
    const swept = await sweep();
    // The vault's receipts reach each agent through its receipts queue, as the event source mapping delivers them.
    for (const agent of agents) {
      const drained = await drainQueue(agent.receipts.sqs, agent.receipts.queueUrl, async (event) => {
        const result = (await agent.invoke(event)) as { batchItemFailures?: { itemIdentifier: string }[] };
        return { batchItemFailures: result.batchItemFailures ?? [] };
      });
      if (drained.processed > 0) progress(`source ${agent.label}: ${drained.processed} receipt(s) from the vault`);
    }
    if (swept.available + swept.started + swept.failed > 0) {
      progress(
        `vault: ${swept.available} copy(ies) completed by the sweep, ${swept.started} started, ${swept.failed} failed`,
      );
    }

    const waiting = await queueDepth(sqs, env.queueUrl);
    const open =
      (await deps.inventory.listByStatus('copying')).length + (await deps.inventory.listByStatus('expected')).length;
    if (waiting === 0 && open === 0 && !agentsBusy) {
      settled = true;
      break;
    }
  }

  const pruned = await runPruner(config, endpoint, env, { progress, log, clock });
  const audited = await runAuditor(config, endpoint, { progress, log, clock });

  const all = await deps.inventory.list();
  const byStatus = Object.fromEntries(
    COPY_STATUSES.map((s) => [s, all.filter((r) => r.status === s).length]),
  ) as Record<CopyStatus, number>;
  return {
    rounds,
    notified,
    messagesProcessed,
    messagesLeft: await queueDepth(sqs, env.queueUrl),
    deadLetters: await queueDepth(sqs, env.deadLetterQueueUrl),
    byStatus,
    settled,
    pulls,
    ...(enrolment ? { enrolment } : {}),
    ...(audited ? { audit: audited } : {}),
    ...(pruned ? { prune: pruned } : {}),
  };
}

/** The pruner's progress line: its counts, then each copy it expired on a line of its own. */
export function describePrune(summary: PruneSummary, expired: readonly InventoryRecord[]): string {
  const kept = summary.locked + summary.refused + summary.notBunkers;
  const copies = expired.map(
    (r) =>
      `\n    expired: ${r.kind} ${safeText(r.targetId ?? r.artifactId, 200)} of ${r.sourceAccount}/${r.sourceRegion}` +
      ` (${safeText(r.reason ?? 'past its retention', 200)})`,
  );
  return (
    `pruner: ${summary.expired} copy(ies) expired, ${kept} due but kept (${summary.locked} locked, ` +
    `${summary.refused} refused, ${summary.notBunkers} not Bunker's), ${summary.versionsDeleted} value ` +
    `version(s) and ${summary.dumpsDeleted} table dump(s) expired${copies.join('')}`
  );
}

/**
 * The pruner handler, as the retention role (the only one that may delete a
 * copy), on the run's clock. The summary counts; the copies it expired are
 * the records that turned `expired` during the run, printed one a line. A
 * failure is a progress line (the error alarm in AWS), and the run goes on.
 */
async function runPruner(
  config: BunkerConfig,
  endpoint: string,
  env: LocalEnvironment,
  options: { progress: (line: string) => void; log: Log; clock: Clock },
): Promise<PruneSummary | undefined> {
  const enabled = Object.values(config.artifacts).some((policy) => policy.enabled);
  if (!enabled) return undefined;
  const { account, region } = config.backup;
  const context = await localContext(endpoint, account, region, retentionRoleName(config.name));
  const deps = pruneDeps(
    vaultSettings(config, env.backupKeyArn),
    retentionSettings(config),
    context,
    options.log,
    options.clock,
  );
  try {
    const before = new Set((await deps.inventory.listByStatus('expired')).map((r) => r.artifactId));
    const summary = await createPrunerHandler(deps)();
    const expired = (await deps.inventory.listByStatus('expired')).filter((r) => !before.has(r.artifactId));
    options.progress(describePrune(summary, expired));
    return summary;
  } catch (error) {
    options.progress(`pruner failed: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * The enrolment handler, as the enrolment function's role, reading the
 * organization through the org-reader role of the management account (the
 * emulator's STS needs no org stack for it). A failure (no organization on
 * the emulator, say) is a progress line, the error alarm in AWS, and the
 * run goes on with the accounts enrolled before.
 */
async function runEnrolment(
  config: BunkerConfig,
  endpoint: string,
  env: LocalEnvironment,
  options: { progress: (line: string) => void; log: Log; clock: Clock },
): Promise<EnrolmentSummary | undefined> {
  const { account, region } = config.backup;
  const names = vaultNames(config.name);
  const context = await localContext(endpoint, account, region, enrolmentRoleName(config.name));
  const settings = enrolmentSettings(config, {
    keyArn: env.intakeKeyArn,
    queueArn: `arn:aws:sqs:${region}:${account}:${names.intakeQueue}`,
    deadLetterQueueArn: `arn:aws:sqs:${region}:${account}:${names.intakeDeadLetterQueue}`,
  });
  try {
    const summary = await createEnrolmentHandler(enrolmentDeps(settings, context, options.log, options.clock))();
    options.progress(
      `enrolment: ${summary.enrolled.length} enrolled, ${summary.updated.length} updated, ` +
        `${summary.departed.length} departed, ${summary.unchanged} unchanged` +
        summary.enrolled.map((enrolled) => `\n    enrolled: ${enrolled}`).join(''),
    );
    return summary;
  } catch (error) {
    options.progress(`enrolment failed: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * The audit handler, as the audit function's role, with its alerts to the
 * emulator's alerts topic. A source it cannot list fails the handler (the
 * error alarm in AWS); here it is a progress line, and the run goes on.
 */
async function runAuditor(
  config: BunkerConfig,
  endpoint: string,
  options: { progress: (line: string) => void; log: Log; clock: Clock },
): Promise<AuditSummary | undefined> {
  const { account, region } = config.backup;
  const context = await localContext(endpoint, account, region, vaultNames(config.name).auditRole);
  const alertsTopicArn = `arn:aws:sns:${region}:${account}:${alertsTopicName(config.name)}`;
  const handler = createAuditHandler(
    auditDeps(auditHandlerSettings(config, alertsTopicArn), context, options.log),
    undefined,
    options.clock,
  );
  try {
    const summary = await handler();
    options.progress(
      `audit: ${summary.breaching} breaching, ${summary.atRisk} at risk, ${summary.ok} ok` +
        summary.transitions.map((subject) => `\n    alert: ${subject}`).join(''),
    );
    return summary;
  } catch (error) {
    options.progress(`audit failed: ${(error as Error).message}`);
    return undefined;
  }
}

/** How many times the pull queue is drained before the local run gives up on continuations. */
const MAX_PULL_PASSES = 50;

function describePull(run: PullRunSummary): string {
  const where = `pull ${run.kind} ${run.account}/${run.region}`;
  const counts = `${run.inScope} in scope, ${run.changed} changed, ${run.deleted} newly deleted at the source, ${run.failed} failed, ${run.dataWrites} object(s) written`;
  const state = run.continued ? ' (goes on)' : run.nothingChanged ? ' (nothing changed)' : '';
  const breaches = run.breaches.map((breach) => `\n    breach: ${breach}`).join('');
  return `${where}: ${counts}${state}${breaches}`;
}

/**
 * The pulls due now, queued as their schedules would queue them, then the
 * pull queue handed to the pull handler (with the pull function's role)
 * until no job and no continuation is left.
 */
async function runDuePulls(
  config: BunkerConfig,
  endpoint: string,
  env: LocalEnvironment,
  options: { progress: (line: string) => void; log: Log; clock: Clock; all: boolean },
): Promise<PullRunSummary[]> {
  if (!env.pull) return [];
  const { account: backupAccount, region: backupRegion } = config.backup;
  const names = vaultNames(config.name);
  const vault = await localContext(endpoint, backupAccount, backupRegion, names.pullRole);
  const settings = pullHandlerSettings(config, env.backupKeyArn, env.pull.queueUrl);
  const records = new DynamoPulledInventory(
    new DynamoDBClient(clientConfig(vault)),
    settings.inventoryTable,
    settings.pullScopeIndex,
  );
  const schedules = pullSchedules(config);
  const lastRuns = new Map<string, PullRunRecord | undefined>();
  for (const s of schedules) {
    lastRuns.set(`${s.kind} ${s.account} ${s.region}`, await records.getRun(s.kind, s.account, s.region));
  }
  const due = pullsDue(schedules, (s) => lastRuns.get(`${s.kind} ${s.account} ${s.region}`), options.clock.now(), {
    all: options.all,
  });
  if (due.length > 0) {
    options.progress(
      `${due.length} pull(s) due: ${due.map((job) => `${job.kind} ${job.account}/${job.region}`).join(', ')}`,
    );
  }

  // Listed and enrolled accounts, as the pull function's registry reads them in AWS.
  const registry = config.organization ? sourceRegistry(settings, vault, options.clock) : undefined;
  const fanOuts = registry
    ? await fanOutsDue(config, registry, (s) => records.getRun(s.kind, s.account, s.region), options)
    : [];
  if (fanOuts.length > 0) {
    options.progress(
      `${fanOuts.length} fan-out(s) to the enrolled accounts due: ${fanOuts.map((job) => job.kind).join(', ')}`,
    );
  }

  const sqs = new SQSClient(clientConfig(vault));
  const queue = async (job: PullJob | PullFanOutJob) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: settings.pullQueueUrl, MessageBody: JSON.stringify(job) }));
  };
  for (const job of [...due, ...fanOuts]) await queue(job);
  // The queue is drained even when nothing is due, as the event source mapping consumes whatever arrives:
  // a job left by an interrupted run, or one somebody else queued, is handled (or rejected) now.
  const runner = pullJobRunner(settings, vault, options.clock);
  const summaries: PullRunSummary[] = [];
  const handler = createPullHandler({
    settings,
    log: options.log,
    ...(registry ? { sources: registry } : {}),
    // Locally nothing else waits for the queue: a continuation is queued again at once.
    continueLater: (job) => queue(job),
    run: async (job, _settings, deps) => {
      const summary = await runner(job, deps);
      summaries.push(summary);
      options.progress(describePull(summary));
      return summary;
    },
  });
  for (let pass = 0; pass < MAX_PULL_PASSES; pass += 1) {
    const drained = await drainQueue(sqs, settings.pullQueueUrl, (event) => handler(event));
    if (drained.processed + drained.retried === 0) break;
  }
  return summaries;
}

/**
 * The fan-out jobs due now: a pulled kind's enrolled rule fires at the
 * kind's rate for every enrolled account at once, so its fan-out is due
 * when any enrolled account and Region of the kind was never pulled or was
 * last pulled at least the kind's rate ago (`all`: every kind). The fan-out
 * then pulls every enrolled account of the kind, as it does in AWS.
 */
async function fanOutsDue(
  config: BunkerConfig,
  registry: SourceRegistry,
  lastRun: (schedule: PullSchedule) => Promise<PullRunRecord | undefined>,
  options: { clock: Clock; all: boolean },
): Promise<PullFanOutJob[]> {
  const listed = new Set(config.sources.map((source) => source.account));
  const enrolled = (await registry.all()).filter((source) => !listed.has(source.account));
  const due: PullFanOutJob[] = [];
  for (const { kind, everyMinutes } of pullFanOutSchedules(config)) {
    const schedules = enrolled.flatMap((source) =>
      source.regions.map((region) => ({ kind, account: source.account, region, everyMinutes })),
    );
    const runs = new Map<PullSchedule, PullRunRecord | undefined>();
    for (const schedule of schedules) runs.set(schedule, await lastRun(schedule));
    if (pullsDue(schedules, (schedule) => runs.get(schedule), options.clock.now(), options).length > 0) {
      due.push({ kind, fanOut: true });
    }
  }
  return due;
}

async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/**
 * Polls the intake queue like an event source mapping with
 * ReportBatchItemFailures: successes are deleted, failures stay and come
 * back after the visibility timeout. Stops when a poll brings nothing new.
 */
async function drainQueue(
  sqs: SQSClient,
  queueUrl: string,
  intake: (event: SQSEvent) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>,
): Promise<{ processed: number; retried: number }> {
  let processed = 0;
  let retried = 0;
  const seen = new Set<string>();
  for (;;) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const fresh = (Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
    if (fresh.length === 0) break;
    const records: SQSRecord[] = fresh.map((m) => ({
      messageId: m.MessageId as string,
      receiptHandle: m.ReceiptHandle as string,
      body: m.Body ?? '',
      attributes: (m.Attributes ?? {}) as unknown as SQSRecord['attributes'],
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueUrl,
      awsRegion: '',
    }));
    const response = await intake({ Records: records });
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = records.filter((r) => !failed.has(r.messageId));
    for (const r of records) seen.add(r.messageId);
    if (done.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
    }
    processed += done.length;
    retried += failed.size;
  }
  return { processed, retried };
}
