/**
 * A deterministic simulation of Bunker's RDS pipeline: the real core use
 * cases (source agent, intake, completion, both sweeps) over the in-memory
 * AWS of `./memory-aws`, with the misbehaviour real AWS allows: events lost,
 * duplicated and reordered, messages delivered at least once, Lambdas
 * crashing half way through, copy quotas and throttling, copies that take time.
 *
 * Everything is driven by one seed: the same options give the same run,
 * counts and all, so a failing seed is a reproducible bug report.
 *
 * Modelled: one backup account and Region; source accounts each in one
 * Region (every other one in a second Region, so cross-Region copies occur);
 * production snapshots appearing over time (automated, manual, unencrypted,
 * under the default key, under an unshareable customer key, already under
 * the share key); databases in and out of the tag scope; RDS events for
 * every snapshot that becomes ready, each possibly lost or duplicated, and
 * retried by EventBridge (4 times) when the Lambda fails; the intake queue
 * with visibility timeout and a dead-letter queue after 5 receipts; the
 * hourly source sweep and the vault sweep on a schedule; a crash as an
 * exception thrown before or after one port call of an invocation.
 *
 * Concurrency: every invocation runs to its end before the next starts,
 * except the messages of one intake batch with `parallelIntake`, which run
 * concurrently and interleave at port calls (Powertools' BatchProcessor
 * default). The clock stands still within a round.
 *
 * Not modelled: the eventual consistency of the inventory's status index;
 * other Lambdas running at the same time; Lambda timeouts that stop work
 * without an exception; clock skew between Lambdas; a redrive of the
 * dead-letter queue; KMS key policies beyond "usable by these accounts"; RDS
 * queueing copies of one source one after another; cluster snapshots;
 * deletion of DB instances.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { COPY_STATUSES, type CopyStatus } from '../lambdas/core/inventory';
import { intakeTopicArn, intermediateSnapshotId, rdsSnapshotArn } from '../lambdas/core/names';
import { handleCopyEvent, sweepCopies } from '../lambdas/core/pipeline/completion';
import { TAG_SOURCE_ACCOUNT, TAG_SOURCE_ID, TAG_SOURCE_REGION } from '../lambdas/core/pipeline/copy';
import { handleDelivery, type IntakeDeps } from '../lambdas/core/pipeline/intake';
import { type Clock, type Log, silentLog } from '../lambdas/core/ports';
import {
  type AgentDeps,
  processSnapshot,
  recordReceipt,
  sweepSource,
  TAG_NOTIFIED_AT,
} from '../lambdas/core/rds-source-agent';
import type { KindsSettings, RegisteredSource, ScopeSetting, SourceSettings } from '../lambdas/core/settings';
import { artifactId, KIND_NAMES } from '../lambdas/kinds/registry';
import type { ArtifactCopier, Copiers, KindName } from '../lambdas/kinds/types';
import {
  type FaultPhase,
  ManualClock,
  MemoryInventory,
  MemoryPublisher,
  MemoryRdsWorld,
  MemoryReceipts,
  type NewSnapshot,
  PortMonitor,
  Prng,
  SimulatedFaultError,
} from './memory-aws';

// ---------------------------------------------------------------------------
// Wiring: the core's dependencies over the memory world
// ---------------------------------------------------------------------------

export interface MemoryVaultOptions {
  readonly world: MemoryRdsWorld;
  readonly inventory: MemoryInventory;
  readonly clock: Clock;
  readonly backupAccount: string;
  readonly backupRegion: string;
  readonly backupKeyArn: string;
  readonly sources: readonly RegisteredSource[];
  /** The vault's limit on RDS DB snapshot copies in progress per Region. */
  readonly maxRdsCopiesInProgress: number;
  /** Which RDS snapshots the vault accepts. @default the simulation's tag scope, backup=daily */
  readonly scope?: ScopeSetting;
  /** Where the vault's receipts go. @default - a fresh one */
  readonly receipts?: MemoryReceipts;
  /** Also copy into this Region of the backup account, under `secondKeyArn`. @default - no second hop */
  readonly secondRegion?: string;
  readonly secondKeyArn?: string;
  /** @default silentLog */
  readonly log?: Log;
}

/** The kinds the memory world does not model (yet): any call says so instead of pretending. */
function unmodelledCopier(kind: KindName): ArtifactCopier {
  const refuse = () => Promise.reject(new Error(`the memory world does not model ${kind}`));
  return { kind, describeSource: refuse, listShared: refuse, copy: refuse, describeCopy: refuse };
}

/** The vault's kind settings with only RDS DB snapshots enabled, as the simulation runs them. */
export function rdsOnlyKinds(scope: ScopeSetting, copyLimit: number): KindsSettings {
  return Object.fromEntries(
    KIND_NAMES.map((name) => [name, { enabled: name === 'rds-snapshot', scope, copyLimit }]),
  ) as unknown as KindsSettings;
}

/** The vault's dependencies (intake, completion, sweep) over the memory world, as `vaultDeps` wires the real ones. */
export function memoryVaultDeps(options: MemoryVaultOptions): IntakeDeps {
  const copiers = Object.fromEntries(
    KIND_NAMES.map((name) => [
      name,
      name === 'rds-snapshot' ? options.world.copier(options.backupAccount) : unmodelledCopier(name),
    ]),
  ) as unknown as Copiers;
  return {
    settings: {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: options.backupAccount,
      backupRegion: options.backupRegion,
      backupKeyArn: options.backupKeyArn,
      sources: options.sources,
      kinds: rdsOnlyKinds(options.scope ?? SCOPE, options.maxRdsCopiesInProgress),
      ...(options.secondRegion ? { secondRegion: options.secondRegion } : {}),
    },
    ...(options.secondRegion && options.secondKeyArn
      ? {
          keys: {
            keyFor: async (region: string) => {
              if (region !== options.secondRegion) throw new Error(`no backup-data key for ${region}`);
              return options.secondKeyArn as string;
            },
          },
        }
      : {}),
    inventory: options.inventory,
    copiers,
    receipts: options.receipts ?? new MemoryReceipts(options.inventory.monitor),
    clock: options.clock,
    log: options.log ?? silentLog,
  };
}

/** A source agent's dependencies over the memory world, as `agentDeps` wires the real ones. */
export function memoryAgentDeps(options: {
  readonly world: MemoryRdsWorld;
  readonly publisher: MemoryPublisher;
  readonly clock: Clock;
  readonly settings: SourceSettings;
  readonly log?: Log;
}): AgentDeps {
  return {
    settings: options.settings,
    rds: options.world.sourceRds(options.settings.sourceAccount, options.settings.sourceRegion),
    publisher: options.publisher.topic(options.settings.intakeTopicArn),
    clock: options.clock,
    log: options.log ?? silentLog,
  };
}

// ---------------------------------------------------------------------------
// The simulation
// ---------------------------------------------------------------------------

export interface SimulationOptions {
  /** Every random choice (world shape, faults, delivery order) derives from it. */
  readonly seed: number;
  /** Number of source accounts. */
  readonly sources: number;
  readonly databasesPerSource: number;
  /** Production snapshots each database gets over the run. */
  readonly snapshotsPerDatabase: number;
  /** The vault setting `maxRdsCopiesInProgress`. */
  readonly maxCopiesInProgress: number;
  /** How long an RDS copy (intermediate or backup) takes. */
  readonly copyDurationMs: number;
  /** Probability that a message or an event is delivered twice. */
  readonly duplicateRate: number;
  /** Probability that an invocation crashes at one of its first {@link CRASH_WINDOW} port calls. */
  readonly crashRate: number;
  /** RDS copies in progress allowed per account and Region before a quota error. */
  readonly quotaLimit: number;
  /** The run stops after this many rounds even if work is left. */
  readonly rounds: number;
  /** Simulated time per round. @default 60_000 */
  readonly roundMs?: number;
  /** Probability that an RDS event is never delivered. @default 0.2 */
  readonly eventLossRate?: number;
  /** Probability that a copy call is throttled on top of the quota. @default 0 */
  readonly throttleRate?: number;
  /** Deliver messages and events in random order. @default true */
  readonly reorder?: boolean;
  /**
   * Handle each intake batch's messages concurrently (Powertools'
   * BatchProcessor default), interleaved at port calls by the seed.
   * @default false (one after another)
   */
  readonly parallelIntake?: boolean;
  /** Source agents sweep every this many rounds. @default 10 */
  readonly sourceSweepEveryRounds?: number;
  /** The vault sweeps every this many rounds. @default 5 */
  readonly vaultSweepEveryRounds?: number;
  /** Production snapshots of one database are this far apart. @default 600_000 */
  readonly snapshotIntervalMs?: number;
  /** @default 24 */
  readonly intermediateRetentionHours?: number;
  /** The agents' hard horizon for intermediates with no receipt. @default 336 */
  readonly intermediateHorizonHours?: number;
  /** @default 100 */
  readonly maxIntermediateSnapshots?: number;
}

export interface SimulationResult {
  readonly seed: number;
  /** Rounds run. */
  readonly rounds: number;
  /** Whether the run ended with nothing left to do (false: `rounds` ran out). */
  readonly quiescent: boolean;
  readonly simulatedMs: number;
  readonly snapshotsInScope: number;
  readonly snapshotsOutOfScope: number;
  /** Per in-scope production snapshot ARN: its copies in the backup account. */
  readonly copiesPerSourceSnapshot: Readonly<Record<string, number>>;
  /** Per in-scope production snapshot ARN: its inventory record's status. */
  readonly recordPerSourceSnapshot: Readonly<Record<string, CopyStatus | 'missing'>>;
  /** Copies in the backup account of anything but an in-scope snapshot's intermediate. */
  readonly strayCopies: number;
  readonly recordsByStatus: Readonly<Record<CopyStatus, number>>;
  /** The most RDS copies ever in progress at once in the backup account. */
  readonly maxCopiesInProgressObserved: number;
  readonly portCalls: number;
  readonly portCallsByMethod: Readonly<Record<string, number>>;
  readonly invocations: number;
  readonly crashes: number;
  /** Errors other than injected crashes that escaped a use case (e.g. RetryLaterError). */
  readonly otherErrors: number;
  readonly quotaErrors: number;
  readonly notificationsPublished: number;
  readonly messagesDelivered: number;
  readonly deadLetters: number;
  /** Intermediates the agents deleted past the hard horizon with no receipt (each an alarm). */
  readonly expiredUncopied: number;
  readonly eventsDelivered: number;
  readonly eventsLost: number;
}

/** A crash hits one of the first this many port calls of an invocation. */
export const CRASH_WINDOW = 12;
/** EventBridge's retries of a failed asynchronous invocation (the stacks' `retryAttempts`). */
const EVENT_RETRIES = 4;

export const BACKUP_ACCOUNT = '111111111111';
export const BACKUP_REGION = 'eu-west-1';
const SOURCE_REGIONS = ['eu-west-1', 'eu-central-1'] as const;
const SCOPE: ScopeSetting = { tag: { key: 'backup', value: 'daily' } };

type SimEvent =
  | {
      readonly kind: 'agent';
      readonly source: number;
      readonly snapshotId: string;
      attempts: number;
    }
  | { readonly kind: 'copy'; readonly targetId: string; attempts: number };

interface Invocation {
  calls: number;
  readonly crashAt: number;
  readonly crashPhase: FaultPhase;
}

interface ProductionSnapshot {
  readonly source: number;
  readonly at: number;
  readonly snapshot: NewSnapshot;
  readonly inScope: boolean;
}

/** Runs the pipeline until nothing is left to do or `rounds` run out; see the module comment. */
export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const roundMs = options.roundMs ?? 60_000;
  const eventLossRate = options.eventLossRate ?? 0.2;
  const reorder = options.reorder ?? true;
  const sourceSweepEvery = options.sourceSweepEveryRounds ?? 10;
  const vaultSweepEvery = options.vaultSweepEveryRounds ?? 5;

  const root = new Prng(options.seed);
  const shape = root.fork();
  const faults = root.fork();
  const delivery = root.fork();
  const schedule = root.fork();

  const clock = new ManualClock('2026-03-01T00:00:00.000Z');
  const start = clock.epochMs;
  const monitor = new PortMonitor();
  const world = new MemoryRdsWorld({
    clock,
    monitor,
    copyDurationMs: options.copyDurationMs,
    copyQuota: options.quotaLimit,
    throttle: () => faults.chance(options.throttleRate ?? 0),
  });
  const inventory = new MemoryInventory(monitor);
  const publisher = new MemoryPublisher({
    monitor,
    prng: delivery,
    duplicateRate: options.duplicateRate,
    reorder,
  });

  // Crashes: each invocation draws whether, where and when it crashes.
  const invocation = new AsyncLocalStorage<Invocation>();
  let crashes = 0;
  monitor.injector = (call, phase) => {
    const current = invocation.getStore();
    if (!current) return undefined;
    if (phase === 'before') current.calls += 1;
    if (current.calls - 1 !== current.crashAt || phase !== current.crashPhase) return undefined;
    crashes += 1;
    return new SimulatedFaultError(call, phase);
  };
  if (options.parallelIntake) monitor.scheduler = () => schedule.int(4);

  let invocations = 0;
  let otherErrors = 0;
  const invoke = async (work: () => Promise<unknown>): Promise<boolean> => {
    invocations += 1;
    const crashing = faults.chance(options.crashRate);
    const context: Invocation = {
      calls: 0,
      crashAt: crashing ? faults.int(CRASH_WINDOW) : -1,
      crashPhase: crashing && faults.chance(0.5) ? 'after' : 'before',
    };
    try {
      await invocation.run(context, work);
      return true;
    } catch (error) {
      if (!(error instanceof SimulatedFaultError)) otherErrors += 1;
      return false;
    }
  };

  // The world: a backup account, source accounts with databases, snapshots to come.
  const backupKeyArn = world.createKey(BACKUP_ACCOUNT, BACKUP_REGION, 'bunker-backup-data');
  const sources = Array.from({ length: options.sources }, (_, i) => ({
    account: String(222_222_220_000 + i),
    region: SOURCE_REGIONS[i % SOURCE_REGIONS.length],
  }));
  const registered: RegisteredSource[] = sources.map((s) => ({
    account: s.account,
    regions: [s.region],
  }));
  const receipts = new MemoryReceipts(inventory.monitor);
  const vault = memoryVaultDeps({
    world,
    inventory,
    clock,
    receipts,
    backupAccount: BACKUP_ACCOUNT,
    backupRegion: BACKUP_REGION,
    backupKeyArn,
    sources: registered,
    maxRdsCopiesInProgress: options.maxCopiesInProgress,
  });
  const production: ProductionSnapshot[] = [];
  const agents = sources.map((source, i) => {
    const shareKeyArn = world.createKey(source.account, source.region, 'bunker-share', [BACKUP_ACCOUNT]);
    const ownKeyArn = world.createKey(source.account, source.region, 'production-data');
    const interval = options.snapshotIntervalMs ?? 600_000;
    for (let d = 0; d < options.databasesPerSource; d += 1) {
      const db = `db-${i}-${d}`;
      const inScope = shape.chance(0.75);
      const tags = {
        backup: inScope ? 'daily' : 'none',
        team: `team-${d % 3}`,
      };
      world.addInstance(source.account, source.region, db, tags);
      for (let k = 0; k < options.snapshotsPerDatabase; k += 1) {
        const variant = shape.int(5);
        const stamp = `${k}-${shape.int(1_000_000).toString(36)}`;
        const encryption =
          variant === 2
            ? { encrypted: false }
            : variant === 3
              ? { kmsKeyId: ownKeyArn }
              : variant === 4
                ? { kmsKeyId: shareKeyArn }
                : {};
        production.push({
          source: i,
          at: start + k * interval + shape.int(interval),
          inScope,
          snapshot: {
            id: variant === 0 ? `rds:${db}-${stamp}` : `${db}-manual-${stamp}`,
            dbInstanceId: db,
            type: variant === 0 ? 'automated' : 'manual',
            tags,
            readyInMs: 60_000 + shape.int(240_000),
            ...encryption,
          },
        });
      }
    }
    const settings: SourceSettings = {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP_ACCOUNT,
      sourceAccount: source.account,
      sourceRegion: source.region,
      shareKeyArn,
      intakeTopicArn: intakeTopicArn('bunker', BACKUP_ACCOUNT, BACKUP_REGION, source.account),
      scopes: { 'rds-snapshot': SCOPE },
      intermediateRetentionHours: options.intermediateRetentionHours ?? 24,
      intermediateHorizonHours: options.intermediateHorizonHours ?? 24 * 14,
      maxIntermediateSnapshots: options.maxIntermediateSnapshots ?? 100,
    };
    return {
      ...source,
      deps: memoryAgentDeps({ world, publisher, clock, settings }),
    };
  });
  const arrivals = [...production].sort((a, b) => a.at - b.at);

  let events: SimEvent[] = [];
  let eventsDelivered = 0;
  let eventsLost = 0;
  const raise = (event: SimEvent) => {
    if (delivery.chance(eventLossRate)) {
      eventsLost += 1;
      return;
    }
    events.push(event);
    if (delivery.chance(options.duplicateRate)) events.push({ ...event });
  };

  const arrived = () => production.filter((p) => p.at <= clock.epochMs);
  const intermediateOf = (p: ProductionSnapshot) => {
    const agent = agents[p.source];
    return world.snapshot(agent.account, agent.region, intermediateSnapshotId(p.snapshot.id));
  };
  const intermediateArnOf = (p: ProductionSnapshot) => {
    const agent = agents[p.source];
    return rdsSnapshotArn('aws', agent.region, agent.account, intermediateSnapshotId(p.snapshot.id));
  };
  const announced = new Set<string>();
  const quiescent = () =>
    arrivals.length === 0 &&
    events.length === 0 &&
    publisher.pending === 0 &&
    world.pendingSnapshots() === 0 &&
    inventory.records().every((r) => r.status !== 'expected' && r.status !== 'copying') &&
    arrived()
      .filter((p) => p.inScope)
      .every((p) => {
        // Announced and tagged; or announced and since deleted by the retention sweep.
        const intermediate = intermediateOf(p);
        return intermediate ? intermediate.tags[TAG_NOTIFIED_AT] !== undefined : announced.has(intermediateArnOf(p));
      });

  let publishedSeen = 0;
  let receiptsSeen = 0;
  let expiredUncopied = 0;
  let round = 0;
  let settled = false;
  while (round < options.rounds && !settled) {
    round += 1;
    if (round > 1) clock.advance(roundMs);

    while (arrivals.length > 0 && arrivals[0].at <= clock.epochMs) {
      const next = arrivals.shift() as ProductionSnapshot;
      const agent = agents[next.source];
      world.addSnapshot(agent.account, agent.region, next.snapshot);
    }

    // RDS events for what became ready: to the source agent, or to completion in the backup account.
    for (const change of world.takeTransitions()) {
      if (change.account === BACKUP_ACCOUNT) raise({ kind: 'copy', targetId: change.snapshotId, attempts: 0 });
      else {
        const source = agents.findIndex((a) => a.account === change.account && a.region === change.region);
        raise({
          kind: 'agent',
          source,
          snapshotId: change.snapshotId,
          attempts: 0,
        });
      }
    }
    const due = reorder ? delivery.shuffle(events) : events;
    events = [];
    for (const event of due) {
      const ok = await invoke(() =>
        event.kind === 'agent'
          ? processSnapshot(event.snapshotId, agents[event.source].deps)
          : handleCopyEvent(
              'RDS DB Snapshot Event',
              { EventID: 'RDS-EVENT-0197', SourceIdentifier: event.targetId },
              vault,
            ),
      );
      eventsDelivered += 1;
      if (!ok && event.attempts < EVENT_RETRIES) events.push({ ...event, attempts: event.attempts + 1 });
    }

    if (round % sourceSweepEvery === 0) {
      for (const agent of agents) {
        await invoke(async () => {
          const summary = await sweepSource(agent.deps);
          expiredUncopied += summary.expiredUncopied;
        });
      }
    }

    await publisher.deliver(
      async (body) => {
        let outcome: unknown;
        const ok = await invoke(async () => {
          outcome = await handleDelivery(body, vault);
        });
        // A failed record is reported to SQS and comes back later.
        if (!ok) throw new Error('redeliver');
        return outcome;
      },
      { batchSize: 10, parallel: options.parallelIntake ?? false },
    );

    if (round % vaultSweepEvery === 0) await invoke(() => sweepCopies(vault));

    // The vault's receipts reach the agents through their queues (at least once: a failed one comes back).
    const receiptsDue = receipts.sent.slice(receiptsSeen);
    receiptsSeen = receipts.sent.length;
    for (const receipt of receiptsDue) {
      const agent = agents.find((a) => a.account === receipt.account && a.region === receipt.region);
      if (agent && !(await invoke(() => recordReceipt(receipt, agent.deps)))) receipts.sent.push(receipt);
    }

    for (const n of publisher.published.slice(publishedSeen)) {
      announced.add(rdsSnapshotArn('aws', n.sourceRegion, n.sourceAccount, 'id' in n ? n.id : ''));
    }
    publishedSeen = publisher.published.length;
    settled = quiescent();
  }

  // Counting, by inspection only (no port calls).
  const copiesBySource = new Map<string, number>();
  for (const copy of world.snapshots(BACKUP_ACCOUNT, BACKUP_REGION)) {
    const tags = copy.tags;
    const source =
      tags[TAG_SOURCE_ACCOUNT] && tags[TAG_SOURCE_REGION] && tags[TAG_SOURCE_ID]
        ? rdsSnapshotArn('aws', tags[TAG_SOURCE_REGION], tags[TAG_SOURCE_ACCOUNT], tags[TAG_SOURCE_ID])
        : `untagged:${copy.id}`;
    copiesBySource.set(source, (copiesBySource.get(source) ?? 0) + 1);
  }
  const copiesPerSourceSnapshot: Record<string, number> = {};
  const recordPerSourceSnapshot: Record<string, CopyStatus | 'missing'> = {};
  let accounted = 0;
  for (const p of production.filter((x) => x.inScope)) {
    const agent = agents[p.source];
    const arn = rdsSnapshotArn('aws', agent.region, agent.account, p.snapshot.id);
    const intermediateArn = intermediateArnOf(p);
    const copies = copiesBySource.get(intermediateArn) ?? 0;
    accounted += copies;
    copiesPerSourceSnapshot[arn] = copies;
    const intermediate = intermediateSnapshotId(p.snapshot.id);
    const id = artifactId({
      kind: 'rds-snapshot',
      partition: 'aws',
      account: agent.account,
      region: agent.region,
      id: intermediate,
    });
    recordPerSourceSnapshot[arn] = inventory.peek(id)?.status ?? 'missing';
  }
  const all = inventory.records();
  const recordsByStatus = Object.fromEntries(
    COPY_STATUSES.map((status) => [status, all.filter((r) => r.status === status).length]),
  ) as Record<CopyStatus, number>;
  const totalCopies = [...copiesBySource.values()].reduce((sum, n) => sum + n, 0);

  return {
    seed: options.seed,
    rounds: round,
    quiescent: settled,
    simulatedMs: clock.epochMs - start,
    snapshotsInScope: production.filter((p) => p.inScope).length,
    snapshotsOutOfScope: production.filter((p) => !p.inScope).length,
    copiesPerSourceSnapshot,
    recordPerSourceSnapshot,
    strayCopies: totalCopies - accounted,
    recordsByStatus,
    maxCopiesInProgressObserved: world.maxCopiesInProgress(BACKUP_ACCOUNT, BACKUP_REGION),
    portCalls: monitor.calls,
    portCallsByMethod: Object.fromEntries([...monitor.byMethod.entries()].sort(([a], [b]) => a.localeCompare(b))),
    invocations,
    crashes,
    otherErrors,
    quotaErrors: world.quotaErrors,
    notificationsPublished: publisher.published.length,
    messagesDelivered: publisher.delivered,
    deadLetters: publisher.deadLetters.length,
    expiredUncopied,
    eventsDelivered,
    eventsLost,
  };
}
