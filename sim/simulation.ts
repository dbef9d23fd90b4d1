/**
 * A discrete-event simulation of Bunker at fleet scale: the REAL core run
 * as the Lambdas run it, over in-memory AWS, on a virtual clock
 * (`./clock`), with the faults real AWS allows.
 *
 * Modelled:
 * - a burst of production snapshots and images of every kind from many
 *   accounts (skewed: a few accounts hold most), made over `burstSeconds`;
 * - with `agents`, the source agents' core in every account (`./agents`):
 *   events for each production artifact and each intermediate, the hourly
 *   sweeps, the receipts; without, sources arrive shared and announced;
 * - SNS into the intake queue (standard SQS: unordered, at least once),
 *   the event source mapping (batches of 10, at most 5 at once, records of
 *   a batch handled concurrently as Powertools' BatchProcessor does,
 *   partial batch failures, visibility timeout, dead-letter queue after 5
 *   receives) and intake's `handleDelivery`;
 * - copies: every pool's AWS quota, per-source-resource serialization,
 *   durations drawn per kind with a size-dependent part (`./copy-world`);
 * - events, at the sources and the vault: delayed, hence reordered,
 *   duplicated and lost; completion (`handleCopyEvent`, `settleCopy`)
 *   invoked asynchronously with the rule's retries;
 * - the vault sweep (`sweepCopies`) every 15 minutes, with its schedule's retries;
 * - on every port call (DynamoDB, describes, copies, receipts, the agents'
 *   RDS, EC2 and SNS): latency, throttling and 5xx retried as the SDK does,
 *   and crashes after a call (`./faults`); a crashed intake batch comes back
 *   whole after the visibility timeout, as SQS would redeliver it;
 * - several invocations at once, interleaving at every port call.
 *
 * Not modelled (see docs/simulation.md): Lambda cold starts and concurrency
 * limits; DynamoDB's eventually consistent status index; copies that fail
 * in AWS; the second hop; copy locks.
 *
 * Deterministic: one seed drives every draw through separate streams, no
 * real clock or `Math.random` is read, and concurrency resolves in event
 * order, so the same options give the same result, to the last call.
 */
import { type InventoryRecord, queueEntryOf, resourceKeyOf } from '../lambdas/core/inventory';
import { itemBytes, itemOf, writeUnitsOf } from '../lambdas/core/inventory-item';
import { intakeTopicArn } from '../lambdas/core/names';
import { type Notification, notificationOf } from '../lambdas/core/notification';
import { handleCopyEvent, scheduledSweep, sweepCopies } from '../lambdas/core/pipeline/completion';
import type { SourceBacklogs } from '../lambdas/core/pipeline/backlog';
import { BURST_WAITING_WRITES } from '../lambdas/core/pipeline/calls';
import { handleDelivery, type IntakeDeps } from '../lambdas/core/pipeline/intake';
import { POOL_LOOK_MS, RingMemory } from '../lambdas/core/pipeline/schedule';
import { silentLog } from '../lambdas/core/ports';
import type { ReceiptSender } from '../lambdas/core/receipts';
import type { KindsSettings, ScopeSetting } from '../lambdas/core/settings';
import { artifactId, KIND_NAMES, KINDS, poolOf } from '../lambdas/kinds/registry';
import type { ArtifactCopier, ArtifactRef, Copiers, CopyView, KindName, SourceView } from '../lambdas/kinds/types';
import { type ProductionArtifact, type SourceCause, SourceAgents, type Trigger } from './agents';
import { EventLoop } from './clock';
import { CopyWorld, type SimSource, type SourceReader, simSourceView } from './copy-world';
import {
  type CountedCall,
  FaultLedger,
  type FaultOptions,
  type FaultWaits,
  Invocation,
  SimulatedCrash,
  withFaults,
} from './faults';
import { IndexedInventory } from './indexed-inventory';
import { MemorySourceBacklogs } from './memory-backlogs';
import { Prng, snsEnvelope } from './memory-aws';
import { logNormal, zipfCounts } from './random';

export { memoryAgentDeps, memoryVaultDeps, type MemoryVaultOptions, rdsOnlyKinds } from './memory-wiring';

// ---------------------------------------------------------------------------
// Options and results
// ---------------------------------------------------------------------------

/** How long one copy of a kind takes: `(baseSeconds + secondsPerGiB × size) × a log-normal factor of median 1`. */
export interface DurationModel {
  readonly baseSeconds: number;
  readonly secondsPerGiB: number;
  /** σ of the log of the spread factor (0: no spread). */
  readonly sigma: number;
}

export interface FaultScenario {
  /** Probability that one attempt of a port call is throttled (the SDK retries it). */
  readonly throttle: number;
  /** Probability that one attempt of a port call answers a 5xx (the SDK retries it). */
  readonly serverError: number;
  /** Probability that an invocation crashes, after one of its first {@link CRASH_WINDOW} calls. */
  readonly crash: number;
  /** Probability that a message or a copy event is delivered twice. */
  readonly duplicate: number;
  /** Probability that a copy event is never delivered. */
  readonly lostEvents: number;
}

export const NO_FAULT_SCENARIO: FaultScenario = { throttle: 0, serverError: 0, crash: 0, duplicate: 0, lostEvents: 0 };

/** The issue's fault campaign: 10% throttling, 5% 5xx, 2% crashes, 10% duplicates, 5% lost events. */
export const ISSUE_FAULTS: FaultScenario = {
  throttle: 0.1,
  serverError: 0.05,
  crash: 0.02,
  duplicate: 0.1,
  lostEvents: 0.05,
};

export interface SimulationOptions {
  /** Every random choice derives from it. */
  readonly seed: number;
  /**
   * Run the real source agents over the memory doubles of RDS and EC2, from
   * production snapshots to announcements and receipts; without, sources
   * arrive shared and announced, as the agents leave them. @default false
   */
  readonly agents?: boolean;
  /** With agents: the median minutes of an intermediate copy in the source account, per kind. */
  readonly intermediateMinutes?: Partial<Record<KindName, number>>;
  readonly artifacts: number;
  readonly accounts: number;
  /** Zipf exponent of artifacts per account (0: even). @default 1 */
  readonly skew?: number;
  /**
   * Whether the accounts' size ranks are shuffled over their ids (one
   * permutation drawn from the seed). Without, the largest account has the
   * lowest id, and every order that starts at the lowest id (the ring's
   * wrap-around, the sweep's `fairOrder`) serves the largest accounts
   * first, which flatters it. @default true
   */
  readonly shuffleRanks?: boolean;
  /** Relative share of each kind in the burst. @default {@link DEFAULT_MIX} */
  readonly mix?: Partial<Record<KindName, number>>;
  /** @default {@link DEFAULT_DURATIONS} */
  readonly durations?: Partial<Record<KindName, DurationModel>>;
  /** Size of a source resource in GiB: log-normal. @default median 40, σ 1 */
  readonly sizeGiB?: { readonly median: number; readonly sigma: number };
  /** Probability that an artifact is of a resource already in the burst (copies of it queue behind each other). @default 0.3 */
  readonly sameResource?: number;
  /** AWS's copy quota per pool. @default each kind's `defaultCopyLimit` */
  readonly quotas?: Partial<Record<KindName, number>>;
  /** The vault's `copyLimit` per kind. @default the quotas */
  readonly copyLimits?: Partial<Record<KindName, number>>;
  /** Artifacts are announced uniformly over this long. @default 600 */
  readonly burstSeconds?: number;
  /** A copy recorded later than this after its snapshot was taken breaches the RPO. @default 24 */
  readonly rpoHours?: number;
  /** @default {@link NO_FAULT_SCENARIO} */
  readonly faults?: FaultScenario;
  /** Delay of a copy event (log-normal), which reorders them. @default median 20 s, σ 1 */
  readonly eventDelaySeconds?: { readonly median: number; readonly sigma: number };
  /** @default 15 */
  readonly sweepMinutes?: number;
  /** How often a pool's copies in flight are looked at together (`lookAtPool`); 0: never. @default {@link POOL_LOOK_MS} / 1000 */
  readonly poolLookSeconds?: number;
  /** The run stops here even if work is left (what is left counts as lost). @default 30 days */
  readonly maxSimulatedHours?: number;
  /**
   * The minimum AWS requests per artifact of each kind, for `callsPerArtifact`.
   * To come from `MIN_CALLS_PER_ARTIFACT` (lambdas/core/pipeline/calls.ts) once it exists. @default - none
   */
  readonly minimumCalls?: Partial<Record<KindName, number>>;
  /** The minimum of the vault's side alone per kind (`MIN_CALLS_PER_ARTIFACT[kind].vault`), for `callsPerArtifact[kind].vault`. */
  readonly minimumVaultCalls?: Partial<Record<KindName, number>>;
  /**
   * Whether the vault has the source backlog board (`SourceBacklogs`): the
   * agents' `sourceBacklog` recorded by intake, half the freed slots to the
   * longest backlog. `false` gives the ring alone. @default true
   */
  readonly backlogBoard?: boolean;
  /**
   * Where the vault functions' container memory (`RingMemory`: the ring's
   * place, the pool-full hint, the watch and the pool's looks) lives.
   * `'lambda'`: as in AWS, each function (intake, completion, sweep) runs in
   * execution environments of its own, one invocation at a time each, a warm
   * idle one reused (the most recently used), a new one when none is idle; a
   * crash ends its environment and an environment idle for 15 minutes is
   * reclaimed, and what it remembered goes with it. `'one'`: a single memory
   * shared by every invocation of every vault function (what the simulation
   * did before; it flatters the looks, which then see every copy in flight).
   * @default 'lambda'
   */
  readonly vaultEnvironments?: 'lambda' | 'one';
  /** How many of each pool's last copies `tail` describes. @default {@link TAIL_COPIES} */
  readonly tailCopies?: number;
  /** A test's one-shot crash: the first call of `port.method` crashes its invocation after taking effect. */
  readonly crashAfter?: { readonly port: string; readonly method: string };
}

export interface CallsPerArtifact {
  /** AWS requests per artifact the vault made for the kind, SDK retries included (see {@link SimulationResult}). */
  readonly measured: number;
  readonly minimum: number | null;
  /** The vault's side alone (inventory, copiers, receipts), counted the same way. */
  readonly vault: {
    readonly measured: number;
    readonly minimum: number | null;
    /** The minimum when every artifact finds its pool full: one waiting record more (`BURST_WAITING_WRITES`). */
    readonly burstMinimum: number | null;
  };
}

export interface PoolFigures {
  readonly quota: number;
  readonly copyLimit: number;
  readonly artifacts: number;
  /** Σ d_i of the pool's artifacts. */
  readonly sumSeconds: number;
  /** Σ d_i / Q. */
  readonly loadSeconds: number;
  readonly peakInFlight: number;
}

export interface SimulationResult {
  readonly seed: number;
  /** Whether the source agents ran (see {@link SimulationOptions.agents}). */
  readonly agents: boolean;
  readonly artifacts: number;
  readonly accounts: number;
  /** From the first announcement to the last copy recorded `available`. */
  readonly makespanSeconds: number;
  /** max(max d_i, Σ d_i / Q per pool, each source resource's Σ d_i), from the durations drawn. */
  readonly boundSeconds: number;
  readonly ratio: number;
  /** Artifacts with no finished copy recorded `available` at the end. */
  readonly lost: number;
  /** `lost` per kind. */
  readonly lostByKind: Readonly<Partial<Record<KindName, number>>>;
  /** Artifacts with more than one copy made. */
  readonly duplicated: number;
  /** Artifacts recorded `available` later than `rpoHours` after production took them (or never). */
  readonly rpoBreaches: number;
  /**
   * Requests per artifact by kind: every port call the vault made about an
   * artifact of the kind (SDK retries counted), plus the calls about no
   * single artifact (listings) shared out by the kind's part of the artifacts.
   */
  readonly callsPerArtifact: Readonly<Record<KindName, CallsPerArtifact>>;
  readonly pools: Readonly<Record<string, PoolFigures>>;
  /** Per pool, copies in progress at AWS over time: `[seconds since start, copies]` at every change. */
  readonly inFlight: Readonly<Record<string, readonly (readonly [number, number])[]>>;
  /** Per pool, the vault's claimed copy slots over time, `[seconds, slots]` at every change. */
  readonly slots: Readonly<Record<string, readonly (readonly [number, number])[]>>;
  /** Per pool, where its slot time went up to the pool's last copy ({@link SlotTime}). */
  readonly slotTime: Readonly<Record<string, SlotTime>>;
  /** Per source resource: its copies' `[accepted, starts, ends]` seconds, only for resources with more than one. */
  readonly resourceCopies: Readonly<Record<string, readonly (readonly [number, number, number])[]>>;
  /** Per pool, its last `tailCopies` copies to end, latest last, with each artifact's way to its slot. */
  readonly tail: Readonly<Record<string, readonly TailCopy[]>>;
  readonly counts: SimulationCounts;
  /** Whether every artifact was settled before `maxSimulatedHours`. */
  readonly settled: boolean;
  readonly simulatedSeconds: number;
}

/** The copies of a pool's tail a result describes: the ones that decide its makespan. */
export const TAIL_COPIES = 5;

/**
 * One of a pool's last copies, every time in seconds since the burst began:
 * whether it reached the vault late (the source side's steps, what hit it
 * there) or waited at the vault for a slot (`recorded` to `claimed`).
 */
export interface TailCopy {
  readonly artifact: string;
  readonly account: string;
  readonly sizeGiB: number;
  readonly copySeconds: number;
  readonly produced: number;
  /** With agents: its intermediate requested, ready and announced, and which kind of invocation took each step. */
  readonly requested?: number;
  readonly requestedBy?: Trigger;
  readonly ready?: number;
  readonly announced?: number;
  readonly announcedBy?: Trigger;
  /** The source side's hits (`SourceCause`), at when each first hit. */
  readonly hits?: Readonly<Partial<Record<SourceCause, number>>>;
  /** Its vault record written first, and its slot claimed (the last claim, when a crash made it claim twice). */
  readonly recorded?: number;
  readonly claimed?: number;
  /** Its copy at AWS: accepted, its own transfer begun (after its resource's earlier copies), ended. */
  readonly accepted: number;
  readonly starts: number;
  readonly ends: number;
}

export interface SimulationCounts {
  readonly invocations: Readonly<Record<string, number>>;
  /** Virtual seconds the invocations ran, per function (for GB-seconds). */
  readonly lambdaSeconds: Readonly<Record<string, number>>;
  /** Execution environments the vault's functions started (cold starts), per function; none with `vaultEnvironments: 'one'`. */
  readonly vaultEnvironments: Readonly<Record<string, number>>;
  readonly crashes: number;
  /** Invocations that ended with an error other than a crash (the message or event is retried). */
  readonly errors: number;
  /** Requests per `port.method`. */
  readonly requests: Readonly<Record<string, number>>;
  /** Requests per `port.method` per artifact of each kind (`none`: about no one artifact, shared out by kind). */
  readonly requestsPerArtifact: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Attempts the SDK retried (throttling or 5xx). */
  readonly retriedAttempts: number;
  /** DynamoDB items read by listings and gets; items written, and those written in a transaction. */
  readonly dynamoItemsRead: number;
  readonly dynamoWrites: number;
  readonly dynamoTransactWrites: number;
  /**
   * Index entries those writes put or deleted ({@link indexWritesOf}): DynamoDB bills each, at the size of
   * what the index projects (every attribute, for both of the inventory's), on top of the table's write.
   */
  readonly dynamoIndexWrites: number;
  /**
   * Write units DynamoDB bills for the table's items: a write of an item, one per KB begun of what is
   * stored (`itemOf`, `writeUnitsOf`), twice that in a transaction, whether the condition held or not.
   */
  readonly dynamoWriteUnits: number;
  /** Write units of the index entries: each entry put or deleted, one per KB begun of the item it projects. */
  readonly dynamoIndexWriteUnits: number;
  /** Read units DynamoDB bills for the inventory's reads ({@link readUnitsOf}), from the stored items' sizes. */
  readonly dynamoReadUnits: number;
  readonly notifications: number;
  readonly messagesReceived: number;
  readonly batches: number;
  readonly deadLetters: number;
  readonly copyEvents: number;
  readonly copyEventsLost: number;
  readonly copyEventsDuplicated: number;
  /** With agents: production and intermediate events that never reached the agent. */
  readonly sourceEventsLost: number;
  readonly receipts: number;
  readonly copiesStarted: number;
  readonly quotaAnswers: number;
  readonly sweeps: number;
  /** Where the faults' time went, by cause (`./faults`, `./agents`). */
  readonly faultWaits: FaultWaits;
}

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

export const BACKUP_ACCOUNT = '111111111111';
export const BACKUP_REGION = 'eu-west-1';
const SOURCE_REGIONS = ['eu-west-1', 'eu-central-1'] as const;
const START = '2026-03-01T00:00:00.000Z';
const SCOPE: ScopeSetting = { tag: { key: 'backup', value: 'daily' } };

/** The ports the vault's Lambdas call (the rest are the source agents'): its side of `callsPerArtifact`. */
const VAULT_PORTS: ReadonlySet<string> = new Set(['inventory', 'copier', 'receipts', 'backlogs']);

/** A crash hits one of the first this many port calls of an invocation. */
export const CRASH_WINDOW = 8;
/**
 * A copier with the pool's batched look (`describeCopies`), answered as its
 * `describeCopy` answers each copy: one port call, counted as the adapter's
 * one filtered describe (sim/memory-requests.ts).
 */
/** The kinds whose SDK copier has `describeCopies` (lambdas/adapters/rds-family.ts); the others have none. */
const BATCHED_LOOK_KINDS: ReadonlySet<KindName> = new Set(['rds-snapshot', 'aurora-cluster-snapshot']);

function withBatchedLook(copier: ArtifactCopier): ArtifactCopier {
  return {
    ...copier,
    describeCopies: async (locations, region) => {
      const found: CopyView[] = [];
      for (const location of locations) {
        const copy = await copier.describeCopy({ ...location, region });
        if (copy) found.push(copy);
      }
      return found;
    },
  };
}

/** Lambda reclaims an idle execution environment after a while: 15 minutes here, as for the agents (sim/agents.ts). */
const VAULT_IDLE_RECLAIM_MS = 15 * 60_000;
/** The vault's functions, each with execution environments of its own. */
const VAULT_FUNCTIONS = new Set(['intake', 'completion', 'sweep']);

interface VaultEnvironment {
  readonly ring: RingMemory;
  idleSinceMs: number;
}

/**
 * The execution environments of the vault's functions, and the container
 * memory (`RingMemory`) each keeps: see `SimulationOptions.vaultEnvironments`.
 */
export class VaultEnvironments {
  /** Per function, its idle environments, the most recently used last. */
  private readonly idle = new Map<string, VaultEnvironment[]>();
  private readonly rings = new WeakMap<Invocation, RingMemory>();
  private readonly shared: RingMemory;
  /** Environments started per function (cold starts). */
  readonly started: Record<string, number> = {};

  constructor(
    private readonly mode: 'lambda' | 'one',
    private readonly lookEveryMs: number,
    private readonly loop: EventLoop,
  ) {
    this.shared = new RingMemory(lookEveryMs);
  }

  /** The environment an invocation of `fn` runs in: a warm idle one if any, else a new one. */
  enter(fn: string, invocation: Invocation): VaultEnvironment | undefined {
    if (this.mode === 'one' || !VAULT_FUNCTIONS.has(fn)) return undefined;
    const now = this.loop.epochMs;
    const pool = (this.idle.get(fn) ?? []).filter((e) => now - e.idleSinceMs < VAULT_IDLE_RECLAIM_MS);
    this.idle.set(fn, pool);
    let environment = pool.pop();
    if (!environment) {
      environment = { ring: new RingMemory(this.lookEveryMs), idleSinceMs: now };
      this.started[fn] = (this.started[fn] ?? 0) + 1;
    }
    this.rings.set(invocation, environment.ring);
    return environment;
  }

  /** The invocation has ended: its environment is idle again, or gone with a crash. */
  leave(fn: string, environment: VaultEnvironment | undefined, crashed: boolean): void {
    if (!environment || crashed) return;
    environment.idleSinceMs = this.loop.epochMs;
    this.idle.get(fn)?.push(environment);
  }

  /** The container memory an invocation sees. */
  ringOf(invocation: Invocation): RingMemory {
    return this.rings.get(invocation) ?? this.shared;
  }
}

/** The intake event source mapping (vault stack): batch size, concurrency, visibility timeout, receives before the DLQ. */
const BATCH_SIZE = 10;
const INTAKE_CONCURRENCY = 5;
const VISIBILITY_TIMEOUT_MS = 6 * 60_000;
const MAX_RECEIVES = 5;
/** Retries of an asynchronous invocation: the copy-event rule's `retryAttempts`, the sweep schedule's. */
const COMPLETION_RETRIES = 4;
const SWEEP_RETRIES = 2;

/** Part of the burst per kind: RDS and EBS most, Aurora least. */
export const DEFAULT_MIX: Readonly<Record<KindName, number>> = {
  'rds-snapshot': 0.4,
  'aurora-cluster-snapshot': 0.1,
  'ebs-snapshot': 0.35,
  ami: 0.15,
};

/**
 * Copy times per kind: a cross-account copy of a shared snapshot is a full
 * copy, so it grows with the size. Illustrative figures, settings of the run.
 */
export const DEFAULT_DURATIONS: Readonly<Record<KindName, DurationModel>> = {
  'rds-snapshot': { baseSeconds: 120, secondsPerGiB: 3, sigma: 0.4 },
  'aurora-cluster-snapshot': { baseSeconds: 120, secondsPerGiB: 2.5, sigma: 0.4 },
  'ebs-snapshot': { baseSeconds: 60, secondsPerGiB: 3, sigma: 0.5 },
  ami: { baseSeconds: 300, secondsPerGiB: 8, sigma: 0.5 },
};

/** With agents: how long the agent's intermediate copy takes, median minutes (it is a same-account copy). */
export const DEFAULT_INTERMEDIATE_MINUTES: Readonly<Record<KindName, number>> = {
  'rds-snapshot': 10,
  'aurora-cluster-snapshot': 10,
  'ebs-snapshot': 8,
  ami: 15,
};

/**
 * Items per page of the listings: DescribeDBSnapshots (100), DescribeSnapshots
 * (1,000), DescribeImages (1,000), and a DynamoDB Query's 1 MB of records of
 * about 2.5 KB (400).
 */
function pageSize(port: string, method: string): number | undefined {
  if (port === 'source-rds' && method === 'listSnapshots') return 100;
  if (port === 'source-ec2' && (method === 'listSnapshots' || method === 'listImages')) return 1_000;
  if (port === 'inventory' && (method === 'listByStatus' || method === 'list')) return 400;
  return undefined;
}

/** Median latency of one request, in ms, per port: DynamoDB is fast, copies are slow to accept. */
function latencyMs(port: string, method: string): number {
  if (port === 'inventory' || port === 'backlogs') return 8;
  if (port === 'receipts') return 30;
  return method === 'copy' ? 400 : 120;
}

// ---------------------------------------------------------------------------
// The bound
// ---------------------------------------------------------------------------

/** One artifact's copy, as the bound sees it. */
export interface BoundCopy {
  readonly pool: string;
  readonly resource: string;
  readonly seconds: number;
}

/**
 * The issue's lower bound on the makespan of a burst: no schedule finishes
 * before its longest copy, before a pool's total work spread over its quota,
 * or before the copies of one source resource, which AWS runs one after
 * another, have run end to end.
 */
export function makespanBound(
  copies: readonly BoundCopy[],
  quotaOf: (pool: string) => number,
): {
  readonly boundSeconds: number;
  readonly maxSeconds: number;
  readonly perPool: Readonly<Record<string, number>>;
  readonly longestResourceSeconds: number;
} {
  const perPoolSum = new Map<string, number>();
  const perResource = new Map<string, number>();
  let maxSeconds = 0;
  for (const copy of copies) {
    maxSeconds = Math.max(maxSeconds, copy.seconds);
    perPoolSum.set(copy.pool, (perPoolSum.get(copy.pool) ?? 0) + copy.seconds);
    perResource.set(copy.resource, (perResource.get(copy.resource) ?? 0) + copy.seconds);
  }
  const perPool = Object.fromEntries([...perPoolSum].map(([pool, sum]) => [pool, sum / quotaOf(pool)]));
  const longestResourceSeconds = Math.max(0, ...perResource.values());
  return {
    boundSeconds: Math.max(maxSeconds, longestResourceSeconds, ...Object.values(perPool)),
    maxSeconds,
    perPool,
    longestResourceSeconds,
  };
}

/**
 * Where a pool's slot time went, in slot-hours, from the burst's start to
 * the pool's last copy settled: the quota's slots at every moment, each
 * either copying at AWS or lost to one cause. `waiting` is the part of each
 * figure spent while records of the pool waited at the vault for a slot:
 * the time a better schedule could have used.
 */
export interface SlotTime {
  readonly quota: number;
  readonly endSeconds: number;
  /** Slot-hours by cause (`copying`: AWS transferring a copy). */
  readonly hours: Readonly<Record<SlotCause, number>>;
  /** The same, while records waited for a slot. */
  readonly waiting: Readonly<Record<SlotCause, number>>;
}

/**
 * - `copying`: AWS transferring the copy;
 * - `queued`: accepted by AWS, behind another copy of its source resource;
 * - `claimed`: claimed by the vault, not yet accepted by AWS (the request's latency);
 * - `lease`: claimed, accepted a minute or more later or never (a crash left it to its lease);
 * - `event`: finished, settled by its completion event, and the event's delay;
 * - `look`: finished, its event lost or late, settled by a look (the watch's or the pool's);
 * - `sweep`: finished, its event lost or late, settled by the sweep;
 * - `idle`: no copy held the slot.
 */
export type SlotCause = 'copying' | 'queued' | 'claimed' | 'lease' | 'event' | 'look' | 'sweep' | 'idle';

const SLOT_CAUSES: readonly SlotCause[] = ['copying', 'queued', 'claimed', 'lease', 'event', 'look', 'sweep', 'idle'];

/** One slot the vault held: a record's time in `copying`, how it was settled, and the AWS copy it asked for. */
export interface SlotHolding {
  readonly fromMs: number;
  readonly toMs: number;
  readonly settledBy: 'event' | 'look' | 'sweep' | 'none';
  readonly copy?: { readonly acceptedAtMs: number; readonly startsAtMs: number; readonly endsAtMs: number };
}

/**
 * Adds up {@link SlotTime} for one pool from the slots the vault held and
 * its count of waiting records over time (`[ms, records]` at every change).
 */
export function slotTimeOf(
  quota: number,
  startMs: number,
  holdings: readonly SlotHolding[],
  waiting: readonly (readonly [number, number])[],
): SlotTime {
  const changes: [number, SlotCause | 'waiting', number][] = [];
  const span = (from: number, to: number, cause: SlotCause) => {
    if (to > from) changes.push([from, cause, 1], [to, cause, -1]);
  };
  let endMs = startMs;
  for (const h of holdings) {
    endMs = Math.max(endMs, h.toMs);
    const copy = h.copy;
    if (!copy) {
      span(h.fromMs, h.toMs, h.toMs - h.fromMs >= 60_000 ? 'lease' : 'claimed');
      continue;
    }
    const accepted = Math.min(Math.max(copy.acceptedAtMs, h.fromMs), h.toMs);
    span(h.fromMs, accepted, accepted - h.fromMs >= 60_000 ? 'lease' : 'claimed');
    const starts = Math.min(copy.startsAtMs, h.toMs);
    const ends = Math.min(copy.endsAtMs, h.toMs);
    span(accepted, starts, 'queued');
    span(starts, ends, 'copying');
    span(ends, h.toMs, h.settledBy === 'none' ? 'event' : h.settledBy);
  }
  let before = 0;
  for (const [atMs, count] of waiting) {
    changes.push([atMs, 'waiting', (count > 0 ? 1 : 0) - before]);
    before = count > 0 ? 1 : 0;
  }
  changes.sort((a, b) => a[0] - b[0]);
  const held = Object.fromEntries(SLOT_CAUSES.map((cause) => [cause, 0])) as Record<SlotCause, number>;
  const hours = Object.fromEntries(SLOT_CAUSES.map((cause) => [cause, 0])) as Record<SlotCause, number>;
  const whileWaiting = { ...hours };
  let waits = 0;
  let at = startMs;
  for (const [atMs, cause, delta] of [...changes, [endMs, 'idle', 0] as [number, SlotCause, number]]) {
    const to = Math.min(atMs, endMs);
    if (to > at) {
      const used = SLOT_CAUSES.reduce((sum, c) => sum + (c === 'idle' ? 0 : held[c]), 0);
      for (const c of SLOT_CAUSES) {
        const slots = c === 'idle' ? Math.max(0, quota - used) : held[c];
        hours[c] += slots * (to - at);
        if (waits > 0) whileWaiting[c] += slots * (to - at);
      }
      at = to;
    }
    if (cause === 'waiting') waits += delta;
    else held[cause] += delta;
  }
  const inHours = (figures: Record<SlotCause, number>) =>
    Object.fromEntries(SLOT_CAUSES.map((c) => [c, round(figures[c] / 3_600_000, 2)])) as Record<SlotCause, number>;
  return { quota, endSeconds: seconds(endMs - startMs), hours: inHours(hours), waiting: inHours(whileWaiting) };
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/** One production artifact of the burst, with everything drawn for it before the run. */
interface Artifact extends ProductionArtifact {
  /** The run's key: `a<n>`. */
  readonly key: string;
  readonly pool: string;
  readonly resourceKey: string;
  readonly durationMs: number;
  /** Without agents: the shared source the vault is told about. */
  readonly shared: SimSource;
}

interface QueuedMessage {
  readonly body: string;
  receives: number;
}

const round = (value: number, places = 3) => Math.round(value * 10 ** places) / 10 ** places;
const seconds = (ms: number) => round(ms / 1000);

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The service's id of the n-th shared source of a kind, of the kind's own form. */
function sourceId(kind: KindName, n: number): string {
  switch (kind) {
    case 'rds-snapshot':
      return `bunker-share-db-${n}`;
    case 'aurora-cluster-snapshot':
      return `bunker-share-cluster-${n}`;
    case 'ebs-snapshot':
      return `snap-${hex(n, 17)}`;
    case 'ami':
      return `ami-${hex(n, 17)}`;
  }
}

/**
 * Which account number each size rank gets: a Fisher-Yates permutation
 * drawn from `ranks`, or the identity (rank is the number) when not shuffled.
 */
function accountNumbers(count: number, ranks: Prng | undefined): number[] {
  const numbers = Array.from({ length: count }, (_, i) => i);
  if (!ranks) return numbers;
  for (let i = count - 1; i > 0; i -= 1) {
    const j = ranks.int(i + 1);
    [numbers[i], numbers[j]] = [numbers[j], numbers[i]];
  }
  return numbers;
}

/** Builds the burst: accounts, resources, artifacts and their drawn durations. */
function buildFleet(options: SimulationOptions, shape: Prng, startMs: number, ranks: Prng | undefined): Artifact[] {
  const mix = { ...DEFAULT_MIX, ...options.mix };
  const durations = { ...DEFAULT_DURATIONS, ...options.durations };
  const size = options.sizeGiB ?? { median: 40, sigma: 1 };
  const sameResource = options.sameResource ?? 0.3;
  const burstMs = (options.burstSeconds ?? 600) * 1000;
  const kinds = KIND_NAMES.filter((k) => (mix[k] ?? 0) > 0);
  const totalWeight = kinds.reduce((sum, k) => sum + mix[k], 0);
  const perAccount = zipfCounts(options.accounts, options.artifacts, options.skew ?? 1);
  const numbers = accountNumbers(perAccount.length, ranks);
  const artifacts: Artifact[] = [];
  let n = 0;
  for (const [a, count] of perAccount.entries()) {
    const account = String(300_000_000_000 + numbers[a]);
    const region = SOURCE_REGIONS[numbers[a] % SOURCE_REGIONS.length];
    const resources = new Map<KindName, { id: string; sizeGiB: number }[]>();
    for (let i = 0; i < count; i += 1) {
      let pick = shape.next() * totalWeight;
      const kind = kinds.find((k) => (pick -= mix[k]) < 0) ?? kinds[kinds.length - 1];
      const own = resources.get(kind) ?? [];
      resources.set(kind, own);
      let resource = own.length > 0 && shape.chance(sameResource) ? shape.pick(own) : undefined;
      if (!resource) {
        resource = {
          id: `${kind.split('-')[0]}-res-${a}-${own.length}`,
          sizeGiB: Math.min(16_384, Math.max(1, Math.round(logNormal(shape, size.median, size.sigma)))),
        };
        own.push(resource);
      }
      const model = durations[kind];
      const durationMs = Math.round(
        (model.baseSeconds + model.secondsPerGiB * resource.sizeGiB) * 1000 * logNormal(shape, 1, model.sigma),
      );
      n += 1;
      const producedAtMs = startMs + Math.floor(shape.next() * burstMs);
      const ref: ArtifactRef = { kind, partition: 'aws', account, region, id: sourceId(kind, n) };
      artifacts.push({
        key: `a${n}`,
        n,
        kind,
        account,
        region,
        resourceId: resource.id,
        resourceKey: `${kind}:${account}:${resource.id}`,
        sizeGiB: resource.sizeGiB,
        producedAtMs,
        pool: poolOf(kind, BACKUP_REGION),
        durationMs,
        shared: { ref, resourceId: resource.id, sizeGiB: resource.sizeGiB, producedAtMs, tags: { backup: 'daily' } },
      });
    }
  }
  return artifacts;
}

/** Runs one burst to the end (or to `maxSimulatedHours`); see the module comment. */
export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const faults = options.faults ?? NO_FAULT_SCENARIO;
  const withAgents = options.agents ?? false;
  const root = new Prng(options.seed);
  const shape = root.fork();
  const callStream = root.fork();
  const crashStream = root.fork();
  const delivery = root.fork();
  // Forked last, so the other streams draw as they did before ranks were shuffled.
  const ranks = root.fork();

  const loop = new EventLoop(START);
  const startMs = loop.epochMs;
  const quotas = Object.fromEntries(
    KIND_NAMES.map((k) => [k, options.quotas?.[k] ?? KINDS[k].defaultCopyLimit]),
  ) as Record<KindName, number>;
  const limits = Object.fromEntries(KIND_NAMES.map((k) => [k, options.copyLimits?.[k] ?? quotas[k]])) as Record<
    KindName,
    number
  >;

  const artifacts = buildFleet(options, shape, startMs, options.shuffleRanks === false ? undefined : ranks);
  const perKind = new Map<KindName, number>();
  for (const a of artifacts) perKind.set(a.kind, (perKind.get(a.kind) ?? 0) + 1);
  /** Production artifacts by `<kind>:<account>:<production id>`, the id the vault's records carry as `sourceSnapshotId`. */
  const byProduction = new Map<string, Artifact>();
  const productionKey = (kind: string, account: string | undefined, id: string | undefined) =>
    `${kind}:${account ?? ''}:${id ?? ''}`;

  // -- counters ---------------------------------------------------------------
  const invocations: Record<string, number> = {};
  const lambdaMs: Record<string, number> = {};
  const requests: Record<string, number> = {};
  /** Requests per kind (`none`: about no one artifact) and `port.method`. */
  const requestsByKind = new Map<KindName | 'none', Map<string, number>>();
  const c = {
    crashes: 0,
    errors: 0,
    retriedAttempts: 0,
    dynamoItemsRead: 0,
    dynamoWrites: 0,
    dynamoTransactWrites: 0,
    dynamoIndexWrites: 0,
    dynamoWriteUnits: 0,
    dynamoIndexWriteUnits: 0,
    dynamoReadUnits: 0,
    notifications: 0,
    messagesReceived: 0,
    batches: 0,
    deadLetters: 0,
    copyEvents: 0,
    copyEventsLost: 0,
    copyEventsDuplicated: 0,
    sourceEventsLost: 0,
    receipts: 0,
    sweeps: 0,
  };
  const ledger = new FaultLedger();
  const count = (call: CountedCall) => {
    const key = `${call.port}.${call.method}`;
    requests[key] = (requests[key] ?? 0) + call.requests;
    const ofKind = requestsByKind.get(call.kind ?? 'none') ?? new Map<string, number>();
    requestsByKind.set(call.kind ?? 'none', ofKind);
    ofKind.set(key, (ofKind.get(key) ?? 0) + call.requests);
    c.retriedAttempts += call.attempts - 1;
    ledger.retried(call);
  };

  // -- the vault's inventory, with probes ---------------------------------------
  const inventory = new IndexedInventory();
  const slotSeries = new Map<string, [number, number][]>();
  const doneAt = new Map<string, number>();
  // For the slot-time figures: each slot the vault held, the pools' waiting records, the copy events' arrivals.
  const held: (Omit<SlotHolding, 'copy'> & { readonly pool: string; readonly key: string | undefined })[] = [];
  const holdFrom = new Map<string, number>();
  const waitingNow = new Map<string, number>();
  const waitingSeries = new Map<string, [number, number][]>();
  const eventAt = new Map<string, number>();
  let sweepsRunning = 0;
  /** Available first-hop copies whose receipt the vault has not recorded as sent (the sweep sends it again). */
  const awaitingReceipt = new Set<string>();
  /** Per artifact key: when the vault first wrote its record, and when it last claimed a slot for it (figures only). */
  const recordedAt = new Map<string, number>();
  const claimedAt = new Map<string, number>();
  inventory.onWrite = (before, after) => {
    if (after.kind !== 'unknown') {
      const artifact = byProduction.get(productionKey(after.kind, after.sourceAccount, after.sourceSnapshotId));
      if (artifact && !recordedAt.has(artifact.key)) recordedAt.set(artifact.key, loop.epochMs);
      if (artifact && after.status === 'copying' && before?.status !== 'copying')
        claimedAt.set(artifact.key, loop.epochMs);
    }
    if (after.status === 'available' && after.kind !== 'unknown' && after.hop !== 2 && !after.receiptSentAt) {
      awaitingReceipt.add(after.artifactId);
    } else awaitingReceipt.delete(after.artifactId);
    if (after.status === 'available' && before?.status !== 'available' && after.kind !== 'unknown') {
      const key = productionKey(after.kind, after.sourceAccount, after.sourceSnapshotId);
      const artifact = byProduction.get(key);
      if (artifact && !doneAt.has(artifact.key)) doneAt.set(artifact.key, loop.epochMs);
      agents?.trace.done(key, loop.epochMs);
    }
    const pool = after.pool ?? before?.pool;
    if (pool && (before?.status === 'expected') !== (after.status === 'expected')) {
      const count = (waitingNow.get(pool) ?? 0) + (after.status === 'expected' ? 1 : -1);
      waitingNow.set(pool, count);
      waitingSeries.set(pool, [...(waitingSeries.get(pool) ?? []), [loop.epochMs, count]]);
    }
    if (pool && after.status === 'copying' && before?.status !== 'copying')
      holdFrom.set(after.artifactId, loop.epochMs);
    if (pool && before?.status === 'copying' && after.status !== 'copying' && after.kind !== 'unknown') {
      const target = after.targetId ?? after.targetName ?? '';
      const arrived = eventAt.get(target);
      const settledBy =
        after.status === 'expected'
          ? 'none'
          : arrived !== undefined && arrived <= loop.epochMs
            ? 'event'
            : sweepsRunning > 0
              ? 'sweep'
              : 'look';
      const artifact = byProduction.get(productionKey(after.kind, after.sourceAccount, after.sourceSnapshotId));
      held.push({
        pool,
        key: artifact?.key,
        fromMs: holdFrom.get(after.artifactId) ?? loop.epochMs,
        toMs: loop.epochMs,
        settledBy,
      });
    }
    if (!pool || (before?.status === 'copying') === (after.status === 'copying')) return;
    const points = slotSeries.get(pool) ?? [];
    slotSeries.set(pool, points);
    points.push([seconds(loop.epochMs - startMs), inventory.slotsInUse(pool)]);
  };

  // -- faults and invocations -----------------------------------------------------
  const crashRule = options.crashAfter
    ? {
        match: (port: string, method: string) =>
          port === options.crashAfter?.port && method === options.crashAfter?.method,
        fired: false,
      }
    : undefined;
  const faultOptions: FaultOptions = {
    loop,
    prng: callStream,
    rates: { throttle: faults.throttle, serverError: faults.serverError },
    latencyMs,
    count,
    pageSize,
    ...(crashRule ? { crashRule } : {}),
  };
  /** Runs one invocation of `fn`; `false` when it crashed or threw (its trigger retries). */
  const environments = new VaultEnvironments(
    options.vaultEnvironments ?? 'lambda',
    options.poolLookSeconds === undefined ? POOL_LOOK_MS : options.poolLookSeconds * 1000,
    loop,
  );
  const invokeRaw = async (fn: string, work: (invocation: Invocation) => Promise<unknown>): Promise<boolean> => {
    const crashing = crashStream.chance(faults.crash);
    const invocation = new Invocation(fn, loop.epochMs, crashing ? 1 + crashStream.int(CRASH_WINDOW) : undefined);
    invocations[fn] = (invocations[fn] ?? 0) + 1;
    const environment = environments.enter(fn, invocation);
    let ok = true;
    try {
      await work(invocation);
    } catch (error) {
      ok = false;
      if (!(error instanceof SimulatedCrash)) c.errors += 1;
    }
    if (invocation.crashed) {
      c.crashes += 1;
      ok = false;
    }
    environments.leave(fn, environment, invocation.crashed);
    lambdaMs[fn] = (lambdaMs[fn] ?? 0) + (loop.epochMs - invocation.startedAtMs);
    return ok;
  };
  const eventDelay = options.eventDelaySeconds ?? { median: 20, sigma: 1 };
  /** A best-effort event (EventBridge): lost, duplicated or delayed, so reordered. */
  const raise = (work: () => void, lostCounter: 'copyEventsLost' | 'sourceEventsLost'): number => {
    if (delivery.chance(faults.lostEvents)) {
      c[lostCounter] += 1;
      return 0;
    }
    const copies = delivery.chance(faults.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i += 1)
      loop.after(logNormal(delivery, eventDelay.median, eventDelay.sigma) * 1000, work);
    return copies;
  };

  // -- the intake queue and its event source mapping ------------------------------
  const visible: QueuedMessage[] = [];
  let inFlightMessages = 0;
  let batchesRunning = 0;
  const enqueue = (body: string) => {
    visible.push({ body, receives: 0 });
    if (delivery.chance(faults.duplicate)) visible.push({ body, receives: 0 });
    poll();
  };
  let vaultDeps: (invocation: Invocation) => IntakeDeps = () => {
    throw new Error('the vault is wired below');
  };
  const poll = () => {
    while (batchesRunning < INTAKE_CONCURRENCY && visible.length > 0) {
      const batch: QueuedMessage[] = [];
      while (batch.length < BATCH_SIZE && visible.length > 0) {
        // A standard queue hands out what it holds in no promised order.
        const [message] = visible.splice(delivery.int(visible.length), 1);
        message.receives += 1;
        batch.push(message);
      }
      batchesRunning += 1;
      inFlightMessages += batch.length;
      c.batches += 1;
      c.messagesReceived += batch.length;
      void runBatch(batch);
    }
  };
  const runBatch = async (batch: QueuedMessage[]) => {
    const failed: QueuedMessage[] = [];
    const ok = await invokeRaw('intake', (invocation) => {
      const deps = vaultDeps(invocation);
      return Promise.all(
        batch.map(async (message) => {
          try {
            await handleDelivery(message.body, deps);
          } catch (error) {
            if (error instanceof SimulatedCrash) throw error;
            failed.push(message);
          }
        }),
      );
    });
    batchesRunning -= 1;
    inFlightMessages -= batch.length;
    // A crashed invocation answered nothing: SQS makes the whole batch visible again.
    if (!ok) ledger.crashed(VISIBILITY_TIMEOUT_MS, batch.length);
    for (const message of ok ? failed : batch) {
      inFlightMessages += 1;
      loop.after(VISIBILITY_TIMEOUT_MS, () => {
        inFlightMessages -= 1;
        if (message.receives >= MAX_RECEIVES) c.deadLetters += 1;
        else visible.push(message);
        poll();
      });
    }
    poll();
  };
  const publish = (topicArn: string, notification: Notification) => {
    c.notifications += 1;
    enqueue(snsEnvelope(topicArn, JSON.stringify(notification), `sns-${c.notifications}`));
  };

  // -- the sources: the real agents over the memory doubles, or shared sources ready as agents leave them
  const intermediate = { ...DEFAULT_INTERMEDIATE_MINUTES, ...options.intermediateMinutes };
  const agents = withAgents
    ? new SourceAgents({
        loop,
        backupAccount: BACKUP_ACCOUNT,
        backupRegion: BACKUP_REGION,
        scope: SCOPE,
        faultOptions,
        invoke: invokeRaw,
        publish,
        raise: (work) => raise(work, 'sourceEventsLost'),
        intermediateMs: (kind) => Math.round(logNormal(shape, intermediate[kind] * 60_000, 0.3)),
        onMade: (artifact, id) => {
          byProduction.set(productionKey(artifact.kind, artifact.account, id), artifact as Artifact);
        },
        ...(options.rpoHours !== undefined ? { rpoHours: options.rpoHours } : {}),
      })
    : undefined;
  const sharedViews = new Map<string, SourceView>();
  if (!agents) {
    for (const a of artifacts) {
      byProduction.set(productionKey(a.kind, a.account, a.shared.ref.id), a);
      sharedViews.set(artifactId(a.shared.ref), simSourceView(a.shared, BACKUP_ACCOUNT));
    }
  }
  const sources: SourceReader = {
    describe: async (ref) => (agents ? agents.describe(ref) : sharedViews.get(artifactId(ref))),
    listShared: async (kind, region, accounts) =>
      agents
        ? agents.listShared(kind, region, accounts)
        : [...sharedViews.values()]
            .map((view) => view.ref)
            .filter((ref) => ref.kind === kind && ref.region === region && accounts.includes(ref.account)),
    factsOf: (ref, view) => {
      const artifact = byProduction.get(productionKey(ref.kind, ref.account, view.productionId ?? ref.id));
      return artifact
        ? { key: artifact.key, resourceKey: artifact.resourceKey, durationMs: artifact.durationMs }
        : undefined;
    },
  };

  // -- the vault ----------------------------------------------------------------
  const world = new CopyWorld({
    loop,
    backupAccount: BACKUP_ACCOUNT,
    partition: 'aws',
    quotas,
    sources,
    onFinished: (kind, targetId, region) => {
      c.copyEvents += 1;
      const event = KINDS[kind].finishedCopyEvent(targetId, region, 'aws');
      const deliver = (attempt: number) => {
        if (!eventAt.has(targetId)) eventAt.set(targetId, loop.epochMs);
        let invocation: Invocation | undefined;
        void invokeRaw('completion', (inv) => {
          invocation = inv;
          return handleCopyEvent(event.detailType, event.detail, vaultDeps(inv));
        }).then((ok) => {
          if (!ok && attempt < COMPLETION_RETRIES) loop.after(60_000 * 2 ** attempt, () => deliver(attempt + 1));
          if (invocation?.crashed) ledger.crashed(60_000 * 2 ** attempt);
        });
      };
      const events = raise(() => deliver(0), 'copyEventsLost');
      if (events === 2) c.copyEventsDuplicated += 1;
      if (events === 0) ledger.lostCopyEvents.add(targetId);
    },
  });
  const receipts: ReceiptSender = {
    send: async (receipt) => {
      c.receipts += 1;
      agents?.deliverReceipt(receipt);
    },
  };
  // Each account registered in the Region its artifacts come from.
  const regionOf = new Map(artifacts.map((a) => [a.account, a.region]));
  const accounts = [...regionOf.keys()];
  const settings: IntakeDeps['settings'] = {
    prefix: 'bunker',
    partition: 'aws',
    backupAccount: BACKUP_ACCOUNT,
    backupRegion: BACKUP_REGION,
    backupKeyArn: `arn:aws:kms:${BACKUP_REGION}:${BACKUP_ACCOUNT}:key/backup-data`,
    sources: [...regionOf].map(([account, region]) => ({ account, regions: [region] })),
    kinds: Object.fromEntries(
      KIND_NAMES.map((k) => [k, { enabled: true, scope: SCOPE, copyLimit: limits[k] }]),
    ) as unknown as KindsSettings,
  };
  const copiers = Object.fromEntries(
    KIND_NAMES.map((k) => [k, BATCHED_LOOK_KINDS.has(k) ? withBatchedLook(world.copier(k)) : world.copier(k)]),
  ) as unknown as Copiers;
  // DynamoDB's billing units depend on what a call read or wrote: counted from the inventory's side.
  const countedInventory = new Proxy(inventory, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (property === 'get') c.dynamoItemsRead += 1;
        if (property === 'listByStatus' || property === 'list' || property === 'awaitingFollowUp') {
          c.dynamoItemsRead += (result as unknown[]).length;
        }
        c.dynamoReadUnits += readUnitsOf(String(property), args, result);
        const indexed = (before: InventoryRecord | undefined, after: InventoryRecord) => {
          const written = indexWritesOf(before, after);
          c.dynamoIndexWrites += written.entries;
          c.dynamoIndexWriteUnits += written.units;
        };
        if (property === 'create') {
          const record = args[0] as InventoryRecord;
          c.dynamoWrites += 1;
          c.dynamoWriteUnits += writeUnitsOf(itemOf(record));
          if (result === true) indexed(undefined, record);
        }
        if (property === 'claimCopy' && result === 'claimed') {
          const [expected, next] = args as [InventoryRecord | undefined, InventoryRecord];
          c.dynamoTransactWrites += 2;
          c.dynamoWriteUnits += transactionUnits(next);
          indexed(expected, next);
        }
        if (property === 'replace') {
          const [expected, next] = args as [InventoryRecord, InventoryRecord];
          if (expected.status === 'copying' && next.status !== 'copying') {
            c.dynamoTransactWrites += 2;
            c.dynamoWriteUnits += transactionUnits(next, expected);
          } else {
            c.dynamoWrites += 1;
            c.dynamoWriteUnits += writeUnitsOf(itemOf(next));
          }
          if (result === true) indexed(expected, next);
        }
        return result;
      };
    },
  });
  // The source backlog board: DynamoDB requests in AWS (one write per report or forget, one item read per look).
  const board = new MemorySourceBacklogs();
  const countedBoard: SourceBacklogs = {
    report: async (pool, entry) => {
      await board.report(pool, entry);
      c.dynamoWrites += 1;
      c.dynamoWriteUnits += 1;
      // Its entry in the queue index moves with the backlog: the old one deleted, the new one put (small items).
      c.dynamoIndexWrites += 2;
      c.dynamoIndexWriteUnits += 2;
    },
    longest: async (pool) => {
      c.dynamoItemsRead += 1;
      // A query of one small item, eventually consistent.
      c.dynamoReadUnits += 0.5;
      return board.longest(pool);
    },
    forget: async (pool, account, at) => {
      await board.forget(pool, account, at);
      c.dynamoWrites += 1;
      c.dynamoWriteUnits += 1;
    },
  };
  /** The vault's dependencies as one invocation sees them: every port behind the fault Proxy. */
  vaultDeps = (invocation) => ({
    settings,
    inventory: withFaults(countedInventory, 'inventory', invocation, faultOptions),
    copiers: Object.fromEntries(
      KIND_NAMES.map((k) => [k, withFaults(copiers[k], 'copier', invocation, faultOptions, k)]),
    ) as unknown as Copiers,
    receipts: withFaults(receipts, 'receipts', invocation, faultOptions),
    ...(options.backlogBoard === false
      ? {}
      : {
          backlogs: withFaults(countedBoard, 'backlogs', invocation, faultOptions),
          ring: environments.ringOf(invocation),
        }),
    clock: loop,
    log: silentLog,
  });

  // -- the burst ------------------------------------------------------------------
  for (const a of artifacts) {
    if (agents) agents.produce(a);
    else {
      loop.at(a.producedAtMs, () =>
        publish(
          intakeTopicArn('bunker', BACKUP_ACCOUNT, BACKUP_REGION, a.account),
          notificationOf({
            kind: a.kind,
            sourceAccount: a.account,
            sourceRegion: a.region,
            id: a.shared.ref.id,
            publishedAt: loop.now(),
          }),
        ),
      );
    }
  }
  // The agents' hourly schedule starts at a time of its own, not with the burst.
  agents?.scheduleSweeps(startMs + 37 * 60_000);

  // -- the vault sweep on its schedule -------------------------------------------------
  const sweepMs = (options.sweepMinutes ?? 15) * 60_000;
  const runSweep = (attempt: number) => {
    c.sweeps += 1;
    sweepsRunning += 1;
    void invokeRaw('sweep', (inv) => sweepCopies(vaultDeps(inv), scheduledSweep(loop.now()))).then((ok) => {
      sweepsRunning -= 1;
      if (!ok && attempt < SWEEP_RETRIES) loop.after(60_000, () => runSweep(attempt + 1));
    });
  };
  const scheduleSweeps = (at: number) => {
    loop.at(at, () => {
      runSweep(0);
      scheduleSweeps(at + sweepMs);
    });
  };
  scheduleSweeps(startMs + sweepMs);

  // -- run until every artifact is available, its receipt sent, and the queue is empty
  const limitMs = startMs + (options.maxSimulatedHours ?? 24 * 30) * 3_600_000;
  let settledAtMs: number | undefined;
  await loop.run((nextAt) => {
    if (
      settledAtMs === undefined &&
      doneAt.size >= artifacts.length &&
      awaitingReceipt.size === 0 &&
      visible.length === 0 &&
      inFlightMessages === 0
    ) {
      settledAtMs = loop.epochMs;
    }
    return settledAtMs !== undefined || nextAt > limitMs;
  });

  // -- figures ----------------------------------------------------------------------
  const at = (ms: number | undefined) => (ms === undefined ? undefined : seconds(ms - startMs));
  const tailCopyOf = (
    a: Artifact,
    copy: { readonly acceptedAtMs: number; readonly startsAtMs: number; readonly endsAtMs: number },
  ): TailCopy => {
    const id = agents?.productionId(a);
    const t = id === undefined ? undefined : agents?.trace.timelineOf(productionKey(a.kind, a.account, id));
    const optional = {
      requested: at(t?.requestedAtMs),
      requestedBy: t?.requestedBy,
      ready: at(t?.readyAtMs),
      announced: at(t?.announcedAtMs),
      announcedBy: t?.announcedBy,
      hits:
        t && Object.keys(t.hits).length > 0
          ? Object.fromEntries(Object.entries(t.hits).map(([cause, ms]) => [cause, at(ms)]))
          : undefined,
      recorded: at(recordedAt.get(a.key)),
      claimed: at(claimedAt.get(a.key)),
    };
    return {
      artifact: a.resourceKey,
      account: a.account,
      sizeGiB: a.sizeGiB,
      copySeconds: seconds(a.durationMs),
      produced: seconds(a.producedAtMs - startMs),
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
      accepted: seconds(copy.acceptedAtMs - startMs),
      starts: seconds(copy.startsAtMs - startMs),
      ends: seconds(copy.endsAtMs - startMs),
    };
  };
  const copiesOf = new Map<string, number>();
  for (const copy of world.accepted) copiesOf.set(copy.artifact, (copiesOf.get(copy.artifact) ?? 0) + 1);
  const rpoMs = (options.rpoHours ?? 24) * 3_600_000;
  let lost = 0;
  const lostByKind: Partial<Record<KindName, number>> = {};
  let duplicated = 0;
  let rpoBreaches = 0;
  let lastDoneMs = startMs;
  let quotaAnswers = 0;
  for (const a of artifacts) {
    const done = doneAt.get(a.key);
    if (done === undefined) {
      lost += 1;
      lostByKind[a.kind] = (lostByKind[a.kind] ?? 0) + 1;
    } else lastDoneMs = Math.max(lastDoneMs, done);
    if ((copiesOf.get(a.key) ?? 0) > 1) duplicated += 1;
    if (done === undefined || done - a.producedAtMs > rpoMs) rpoBreaches += 1;
    quotaAnswers += world.outcomeOf(a.key).quotaAnswers;
  }

  const quotaOfPool = (pool: string) => quotas[pool.split('@')[0] as KindName];
  const bound = makespanBound(
    artifacts.map((a) => ({ pool: a.pool, resource: a.resourceKey, seconds: a.durationMs / 1000 })),
    quotaOfPool,
  );
  const makespanSeconds = seconds(lastDoneMs - startMs);

  // Per artifact of a kind: its own requests, plus those about no one artifact shared out by the kind's part.
  const perArtifactOf = (k: KindName): Map<string, number> => {
    const n = perKind.get(k) ?? 0;
    const share = artifacts.length > 0 ? n / artifacts.length : 0;
    const sums = new Map<string, number>();
    for (const [from, weight] of [[requestsByKind.get(k), 1] as const, [requestsByKind.get('none'), share] as const]) {
      for (const [key, value] of from ?? []) sums.set(key, (sums.get(key) ?? 0) + (n > 0 ? (value * weight) / n : 0));
    }
    return sums;
  };
  const sumOf = (figures: Map<string, number>, keep: (key: string) => boolean) =>
    round(
      [...figures].reduce((total, [key, value]) => total + (keep(key) ? value : 0), 0),
      2,
    );
  const requestsPerArtifact: Record<string, Record<string, number>> = {};
  const callsPerArtifact = Object.fromEntries(
    KIND_NAMES.map((k) => {
      const figures = perArtifactOf(k);
      requestsPerArtifact[k] = Object.fromEntries(
        [...figures].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => [key, round(value, 3)]),
      );
      const calls: CallsPerArtifact = {
        measured: sumOf(figures, () => true),
        minimum: options.minimumCalls?.[k] ?? null,
        vault: {
          measured: sumOf(figures, (key) => VAULT_PORTS.has(key.split('.')[0])),
          minimum: options.minimumVaultCalls?.[k] ?? null,
          burstMinimum: ((minimum) => (minimum === undefined ? null : minimum + BURST_WAITING_WRITES))(
            options.minimumVaultCalls?.[k],
          ),
        },
      };
      return [k, calls];
    }),
  ) as Record<KindName, CallsPerArtifact>;

  const pools: Record<string, PoolFigures> = {};
  for (const k of KIND_NAMES) {
    const pool = poolOf(k, BACKUP_REGION);
    const mine = artifacts.filter((a) => a.pool === pool);
    const sum = mine.reduce((total, a) => total + a.durationMs / 1000, 0);
    pools[pool] = {
      quota: quotas[k],
      copyLimit: limits[k],
      artifacts: mine.length,
      sumSeconds: round(sum),
      loadSeconds: round(sum / quotas[k]),
      peakInFlight: world.peak(pool),
    };
  }
  const inFlight = Object.fromEntries(
    [...world.timeSeries()].map(([pool, points]) => [
      pool,
      points.map((p) => [seconds(p.atMs - startMs), p.inFlight] as const),
    ]),
  );
  const acceptedOf = new Map<string, (typeof world.accepted)[number][]>();
  for (const copy of world.accepted) acceptedOf.set(copy.artifact, [...(acceptedOf.get(copy.artifact) ?? []), copy]);
  const slotTime: Record<string, SlotTime> = {};
  for (const k of KIND_NAMES) {
    const pool = poolOf(k, BACKUP_REGION);
    const holdings = held
      .filter((h) => h.pool === pool)
      .map(({ fromMs, toMs, settledBy, key }): SlotHolding => {
        const copy = (acceptedOf.get(key ?? '') ?? []).find((a) => a.acceptedAtMs >= fromMs && a.acceptedAtMs <= toMs);
        return { fromMs, toMs, settledBy, ...(copy ? { copy } : {}) };
      });
    slotTime[pool] = slotTimeOf(quotas[k], startMs, holdings, waitingSeries.get(pool) ?? []);
  }
  const resourceOf = new Map(artifacts.map((a) => [a.key, a.resourceKey]));
  const resourceCopies: Record<string, [number, number, number][]> = {};
  for (const copy of world.accepted) {
    const key = resourceOf.get(copy.artifact) ?? copy.artifact;
    (resourceCopies[key] ??= []).push([
      seconds(copy.acceptedAtMs - startMs),
      seconds(copy.startsAtMs - startMs),
      seconds(copy.endsAtMs - startMs),
    ]);
  }
  for (const key of Object.keys(resourceCopies)) if (resourceCopies[key].length < 2) delete resourceCopies[key];
  const byKey = new Map(artifacts.map((a) => [a.key, a]));
  const tail: Record<string, TailCopy[]> = {};
  for (const copy of [...world.accepted].sort((x, y) => x.endsAtMs - y.endsAtMs)) {
    const a = byKey.get(copy.artifact);
    if (a) (tail[a.pool] ??= []).push(tailCopyOf(a, copy));
  }
  const tailCopies = options.tailCopies ?? TAIL_COPIES;
  for (const pool of Object.keys(tail)) tail[pool] = tailCopies > 0 ? tail[pool].slice(-tailCopies) : [];

  return {
    seed: options.seed,
    artifacts: artifacts.length,
    accounts: accounts.length,
    agents: withAgents,
    makespanSeconds,
    boundSeconds: round(bound.boundSeconds),
    ratio: bound.boundSeconds > 0 ? round(makespanSeconds / bound.boundSeconds, 4) : 0,
    lost,
    lostByKind,
    duplicated,
    rpoBreaches,
    callsPerArtifact,
    pools,
    inFlight,
    slots: Object.fromEntries(slotSeries),
    slotTime,
    resourceCopies,
    tail,
    counts: {
      invocations: { ...invocations },
      lambdaSeconds: Object.fromEntries(Object.entries(lambdaMs).map(([fn, ms]) => [fn, seconds(ms)])),
      vaultEnvironments: { ...environments.started },
      ...c,
      requests: Object.fromEntries(Object.entries(requests).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      requestsPerArtifact,
      copiesStarted: world.accepted.length,
      quotaAnswers,
      faultWaits: ledger.summary(world.accepted, doneAt, agents?.trace.summary()),
    },
    settled: settledAtMs !== undefined,
    simulatedSeconds: seconds((settledAtMs ?? loop.epochMs) - startMs),
  };
}

/**
 * The index entries DynamoDB writes for one record write, each billed apart
 * from the table's write at the size of the item it projects (both indexes
 * project every attribute): the status index's entry, whose key (`status`,
 * `updatedAt`) moves with every write (put on create, else the old one
 * deleted and the new one put), and the queue index's, none while the
 * record is in no queue, one put or delete when it enters or leaves one, one
 * put when it stays under the same key, a delete and a put when its key moves.
 */
export function indexWritesOf(
  before: InventoryRecord | undefined,
  after: InventoryRecord,
): { entries: number; units: number } {
  const was = before === undefined ? undefined : queueEntryOf(before);
  const is = queueEntryOf(after);
  const moved = was !== undefined && is !== undefined && (was.queue !== is.queue || was.queueKey !== is.queueKey);
  const puts = 1 + (is ? 1 : 0);
  const deletes = (before ? 1 : 0) + ((was && !is) || moved ? 1 : 0);
  const putUnits = writeUnitsOf(itemOf(after));
  const deleteUnits = before ? writeUnitsOf(itemOf(before)) : 0;
  return { entries: puts + deletes, units: puts * putUnits + deletes * deleteUnits };
}

/**
 * The read units of one call of the inventory port, as its DynamoDB adapter
 * makes it: a strongly consistent `GetItem` (a record, a slot counter) or
 * each key of a `BatchGetItem` one unit per 4 KB begun, at least one; a
 * query (eventually consistent) half a unit per 4 KB begun of the items it
 * returns, at least half: the walk's and the expired claim's `Limit: 1`,
 * the copies in flight, the follow-up and the status listings.
 */
export function readUnitsOf(method: string, args: readonly unknown[], result: unknown): number {
  const bytes = (records: readonly InventoryRecord[]) =>
    records.reduce((sum, record) => sum + itemBytes(itemOf(record)), 0);
  switch (method) {
    case 'get':
      return result ? Math.max(1, Math.ceil(bytes([result as InventoryRecord]) / 4096)) : 1;
    case 'copiesInProgress':
      return 1;
    case 'existing':
      return new Set(args[0] as readonly string[]).size;
    case 'nextWaiting':
    case 'expiredClaim':
    case 'copiesInFlight':
    case 'awaitingFollowUp':
    case 'listByStatus':
    case 'list': {
      const records = Array.isArray(result) ? (result as InventoryRecord[]) : result ? [result as InventoryRecord] : [];
      return Math.max(0.5, Math.ceil(bytes(records) / 4096) * 0.5);
    }
    default:
      return 0;
  }
}

/**
 * A transaction's write units: twice those of its items, the record, the
 * pool's slot counter and, when the record names one, its resource's slot
 * (both small items, one unit each). `released` is the record leaving
 * `copying`, whose resource the transaction gives back.
 */
function transactionUnits(record: InventoryRecord, released: InventoryRecord = record): number {
  return 2 * (writeUnitsOf(itemOf(record)) + 1 + (resourceKeyOf(released) ? 1 : 0));
}
