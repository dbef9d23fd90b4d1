/**
 * The source side of the simulation: in every source account the real
 * source agents' core (`processSnapshot`, `processEbsSnapshot`,
 * `processImage`, both sweeps, both receipt handlers) over the memory
 * doubles of RDS (`MemoryRdsWorld`, DB snapshots and, through the same
 * port, Aurora cluster snapshots) and EC2 (`MemoryEc2World`), each port
 * behind the fault Proxy.
 *
 * Each account gets its own worlds: a world's listings scan what it holds,
 * so 200 accounts in one world would make every agent call scan the whole
 * fleet. The doubles' own hooks (a copy's duration, its outcome) are where
 * the simulation learns that an intermediate copy started, and schedules
 * the event AWS sends when it is ready.
 *
 * Each account's agent function runs in execution environments of its own
 * (`run`): an invocation takes the most recently used idle one or starts a
 * new one, several run at once, a crash ends one, and one idle for 15
 * minutes is reclaimed. What the agent remembers (`AgentMemory`) lives and
 * dies with its environment, as in Lambda.
 */
import { processEbsSnapshot, processImage, recordEc2Receipt, sweepEc2Source } from '../lambdas/core/agent/ec2-agent';
import { AgentMemory } from '../lambdas/core/agent/memory';
import type { Ec2AgentDeps } from '../lambdas/core/agent/ec2-agent';
import { TAG_SOURCE_VOLUME } from '../lambdas/core/agent/ec2-agent';
import { intakeTopicArn } from '../lambdas/core/names';
import type { Notification } from '../lambdas/core/notification';
import { type Clock, type NotificationPublisher, silentLog } from '../lambdas/core/ports';
import {
  type AgentDeps,
  processSnapshot,
  recordReceipt,
  sweepSource,
  TAG_INTERMEDIATE_OF,
  TAG_SOURCE_CREATED_AT,
} from '../lambdas/core/rds-source-agent';
import type { Receipt } from '../lambdas/core/receipts';
import type { ScopeSetting, SourceSettings } from '../lambdas/core/settings';
import { KINDS } from '../lambdas/kinds/registry';
import type { ArtifactCopier, ArtifactRef, ArtifactState, KindName, SourceView } from '../lambdas/kinds/types';
import type { EventLoop } from './clock';
import type { FaultOptions, Invocation } from './faults';
import { SimulatedCrash, withFaults } from './faults';
import { MemoryRdsWorld } from './memory-aws';
import { MemoryEc2World } from './memory-ec2';

/** One production artifact the agents are to pick up. */
export interface ProductionArtifact {
  readonly kind: KindName;
  readonly account: string;
  readonly region: string;
  /** The production resource: DB instance, DB cluster, volume, or the image's family. */
  readonly resourceId: string;
  readonly sizeGiB: number;
  readonly producedAtMs: number;
  /** The run's own name for it (RDS ids are chosen; EC2 assigns `snap-…`/`ami-…` when it is made). */
  readonly n: number;
}

export interface AgentsOptions {
  readonly loop: EventLoop;
  readonly backupAccount: string;
  readonly backupRegion: string;
  readonly scope: ScopeSetting;
  readonly faultOptions: FaultOptions;
  /** Runs one invocation of a function (crash drawn, counted); `false` when it crashed or threw. */
  readonly invoke: (fn: string, work: (invocation: Invocation) => Promise<unknown>) => Promise<boolean>;
  /** What SNS hands the intake queue when an agent publishes. */
  readonly publish: (topicArn: string, notification: Notification) => void;
  /** Delivers a best-effort event (lost, duplicated, delayed as the run says) to `work`. */
  readonly raise: (work: () => void) => void;
  /** How long an intermediate copy takes in the source account (ms). */
  readonly intermediateMs: (kind: KindName) => number;
  /** Told when a production artifact exists, with the id its service gave it. */
  readonly onMade: (artifact: ProductionArtifact, id: string) => void;
}

/** The shipped source agent defaults (lib/config/schema.ts). */
const RETENTION_HOURS = 1;
const HORIZON_HOURS = 14 * 24;
const MAX_INTERMEDIATES = 20;
/** The receipts queue: redelivered after its visibility timeout, dead-lettered after 5 receives. */
const RECEIPT_RETRY_MS = 6 * 60_000;
const RECEIPT_RECEIVES = 5;
/** Lambda's retries of a failed asynchronous invocation (its default). */
const ASYNC_RETRIES = 2;
/**
 * Lambda reclaims an idle execution environment after a while it does not
 * publish (minutes to hours): taken here as 15 minutes, on the short side,
 * so what a container remembers is lost sooner rather than later.
 */
const IDLE_RECLAIM_MS = 15 * 60_000;

/** One execution environment of an account's agent function: what it remembers lives as long as it does. */
interface Container {
  readonly memory: AgentMemory;
  idleSinceMs: number;
}

interface Account {
  readonly account: string;
  readonly region: string;
  readonly rds: MemoryRdsWorld;
  readonly clusters: MemoryRdsWorld;
  readonly ec2: MemoryEc2World;
  readonly rdsReader: ArtifactCopier;
  readonly clusterReader: ArtifactCopier;
  readonly settings: SourceSettings;
  /** Production ids of the artifacts made so far, by the run's number. */
  readonly made: Map<number, string>;
  readonly volumes: Map<string, string>;
}

const ec2Kind = (method: string, args: readonly unknown[]): KindName =>
  method.includes('Image') || (typeof args[0] === 'string' && args[0].startsWith('ami-')) ? 'ami' : 'ebs-snapshot';

/** The agents of every source account; see the module comment. */
export class SourceAgents {
  private readonly accounts = new Map<string, Account>();
  /** Per account, its agent function's idle execution environments, the most recently used last. */
  private readonly idle = new Map<string, Container[]>();
  /** Execution environments started, over all accounts (cold starts). */
  containersStarted = 0;
  private readonly published = new Map<string, number>();

  constructor(private readonly options: AgentsOptions) {}

  /** The production id of an artifact once it exists. */
  productionId(artifact: ProductionArtifact): string | undefined {
    return this.accounts.get(artifact.account)?.made.get(artifact.n);
  }

  /** Makes the production artifact at its time and tells its agent, as AWS's event would. */
  produce(artifact: ProductionArtifact): void {
    const { loop } = this.options;
    loop.at(artifact.producedAtMs, () => {
      const a = this.accountOf(artifact.account, artifact.region);
      const tags = { backup: 'daily' };
      let id: string;
      if (artifact.kind === 'rds-snapshot' || artifact.kind === 'aurora-cluster-snapshot') {
        const world = artifact.kind === 'rds-snapshot' ? a.rds : a.clusters;
        world.addInstance(a.account, a.region, artifact.resourceId, tags);
        id = `${artifact.kind === 'rds-snapshot' ? 'db' : 'cluster'}-snap-${artifact.n}`;
        world.addSnapshot(a.account, a.region, {
          id,
          dbInstanceId: artifact.resourceId,
          type: 'manual',
          sizeGiB: artifact.sizeGiB,
          tags,
        });
      } else {
        // An AMI's scope is on the image: its backing volume and snapshot carry no scope tag, or
        // the EBS agent would rightly back them up as EBS snapshots of their own.
        const own = artifact.kind === 'ebs-snapshot' ? tags : {};
        let volume = a.volumes.get(artifact.resourceId);
        if (!volume) {
          volume = a.ec2.addVolume(a.account, a.region, { sizeGiB: artifact.sizeGiB, tags: own });
          a.volumes.set(artifact.resourceId, volume);
        }
        const snapshot = a.ec2.addSnapshot(a.account, a.region, { volumeId: volume, tags: own });
        id =
          artifact.kind === 'ebs-snapshot'
            ? snapshot.id
            : a.ec2.addImage(a.account, a.region, {
                name: `${artifact.resourceId}-${artifact.n}`,
                snapshotIds: [snapshot.id],
                tags,
              }).id;
      }
      a.made.set(artifact.n, id);
      this.options.onMade(artifact, id);
      this.options.raise(() => this.onEvent(a, artifact.kind, id));
    });
  }

  /** Every source account's hourly sweep, from `firstAtMs` until the run stops. */
  scheduleSweeps(firstAtMs: number): void {
    const sweep = (at: number) => {
      this.options.loop.at(at, () => {
        for (const a of this.accounts.values()) {
          // One invocation sweeps both, as the handler does.
          void this.run(a, async (inv, memory) => {
            await sweepSource(this.rdsDeps(a, inv, memory));
            await sweepEc2Source(this.ec2Deps(a, inv, memory));
          });
        }
        sweep(at + 3_600_000);
      });
    };
    sweep(firstAtMs);
  }

  /** The vault's receipt, through the account's receipts queue to its agent (at least once). */
  deliverReceipt(receipt: Receipt, receives = 1): void {
    const a = this.accounts.get(receipt.account);
    if (!a) return;
    this.options.loop.after(1_000, () => {
      void this.run(a, (inv, memory) =>
        receipt.kind === 'rds-snapshot' || receipt.kind === 'aurora-cluster-snapshot'
          ? recordReceipt(receipt, this.rdsDeps(a, inv, memory))
          : recordEc2Receipt(receipt, this.ec2Deps(a, inv, memory)),
      ).then((ok) => {
        if (!ok && receives < RECEIPT_RECEIVES) {
          this.options.loop.after(RECEIPT_RETRY_MS, () => this.deliverReceipt(receipt, receives + 1));
        }
      });
    });
  }

  /**
   * What the account shares with the backup account, as the vault's sweep
   * lists it: the agents' intermediates (they carry `TAG_INTERMEDIATE_OF`;
   * the adapters tell them by name or description, which the doubles share).
   */
  async listShared(kind: KindName, account: string, region: string): Promise<ArtifactRef[]> {
    const a = this.accounts.get(account);
    if (!a || a.region !== region) return [];
    if (kind === 'rds-snapshot') return a.rdsReader.listShared(account, region);
    if (kind === 'aurora-cluster-snapshot') return a.clusterReader.listShared(account, region);
    const { backupAccount } = this.options;
    const ids =
      kind === 'ebs-snapshot'
        ? a.ec2
            .snapshots(account, region)
            .filter(
              (s) =>
                s.tags[TAG_INTERMEDIATE_OF] && a.ec2.snapshotSharedWith(account, region, s.id).includes(backupAccount),
            )
            .map((s) => s.id)
        : a.ec2
            .images(account, region)
            .filter(
              (i) =>
                i.tags[TAG_INTERMEDIATE_OF] && a.ec2.imageSharedWith(account, region, i.id).includes(backupAccount),
            )
            .map((i) => i.id);
    return ids.map((id) => ({ kind, partition: 'aws', account, region, id }));
  }

  /** The source as the vault's reader role sees it, read from the account's worlds. */
  async describe(ref: ArtifactRef): Promise<SourceView | undefined> {
    const a = this.accounts.get(ref.account);
    if (!a || a.region !== ref.region) return undefined;
    if (ref.kind === 'rds-snapshot' || ref.kind === 'aurora-cluster-snapshot') {
      // The RDS double's own reader: scope from the DB instance's (or cluster's) tags, as the adapter reads it.
      return (ref.kind === 'rds-snapshot' ? a.rdsReader : a.clusterReader).describeSource(ref);
    }
    if (ref.kind === 'ebs-snapshot') {
      const found = a.ec2.snapshot(a.account, a.region, ref.id);
      if (!found) return undefined;
      const productionId = found.tags[TAG_INTERMEDIATE_OF];
      const volume = found.tags[TAG_SOURCE_VOLUME] ?? found.volumeId;
      return {
        ref,
        arn: KINDS[ref.kind].arn(ref),
        ownerAccount: a.account,
        state: ec2State(found.state),
        detail: found.state,
        encrypted: found.encrypted,
        ...(found.kmsKeyId ? { keyArn: found.kmsKeyId } : {}),
        sharedWith: a.ec2.snapshotSharedWith(a.account, a.region, ref.id),
        producedAt: found.tags[TAG_SOURCE_CREATED_AT] ?? found.startTime,
        ...(volume ? { resourceId: volume } : {}),
        ...(productionId ? { productionId } : {}),
        scopeIds: [volume, productionId, found.id].filter((id): id is string => Boolean(id)),
        scopeTags: { ...found.tags },
        ...(found.sizeGiB !== undefined ? { sizeGiB: found.sizeGiB } : {}),
      };
    }
    const image = a.ec2.image(a.account, a.region, ref.id);
    if (!image) return undefined;
    const productionId = image.tags[TAG_INTERMEDIATE_OF];
    return {
      ref,
      arn: KINDS[ref.kind].arn(ref),
      ownerAccount: a.account,
      state: image.state === 'available' ? 'available' : image.state === 'pending' ? 'pending' : 'failed',
      detail: image.state,
      encrypted: true,
      sharedWith: a.ec2.imageSharedWith(a.account, a.region, ref.id),
      producedAt: image.tags[TAG_SOURCE_CREATED_AT] ?? image.createdAt,
      resourceId: image.name,
      ...(productionId ? { productionId } : {}),
      scopeIds: [image.id, productionId].filter((id): id is string => Boolean(id)),
      scopeTags: { ...image.tags },
      children: image.snapshotIds.map((id) => {
        const backing = a.ec2.snapshot(a.account, a.region, id);
        return {
          id,
          encrypted: backing?.encrypted ?? false,
          ...(backing?.kmsKeyId ? { keyArn: backing.kmsKeyId } : {}),
          sharedWith: a.ec2.snapshotSharedWith(a.account, a.region, id),
        };
      }),
    };
  }

  // -- internals -------------------------------------------------------------

  /**
   * An event to the agent, invoked asynchronously: Lambda retries a failed or
   * crashed invocation twice, a minute and then two minutes later (its
   * defaults); what it still misses, the agent's counts and sweep find.
   */
  private onEvent(a: Account, kind: KindName, id: string, attempt = 0): void {
    void this.run(a, (inv, memory) => {
      if (kind === 'rds-snapshot' || kind === 'aurora-cluster-snapshot') {
        return processSnapshot(id, this.rdsDeps(a, inv, memory), kind);
      }
      return kind === 'ebs-snapshot'
        ? processEbsSnapshot(id, this.ec2Deps(a, inv, memory))
        : processImage(id, this.ec2Deps(a, inv, memory));
    }).then((ok) => {
      if (!ok && attempt < ASYNC_RETRIES) {
        this.options.loop.after(60_000 * (attempt + 1), () => this.onEvent(a, kind, id, attempt + 1));
      }
    });
  }

  /**
   * One invocation of the account's agent function in an execution
   * environment: a warm idle one if there is one (the most recently used, as
   * Lambda tends to), else a new one with an empty memory. Invocations at
   * the same time run in different environments, each with its own memory;
   * a crash ends its environment, and with it what it remembered.
   */
  private run(a: Account, work: (inv: Invocation, memory: AgentMemory) => Promise<unknown>): Promise<boolean> {
    return this.options.invoke('source-agent', async (inv) => {
      const now = this.options.loop.epochMs;
      const pool = (this.idle.get(a.account) ?? []).filter((c) => now - c.idleSinceMs < IDLE_RECLAIM_MS);
      this.idle.set(a.account, pool);
      let container = pool.pop();
      if (!container) {
        container = { memory: new AgentMemory(), idleSinceMs: now };
        this.containersStarted += 1;
      }
      try {
        await work(inv, container.memory);
      } catch (error) {
        if (error instanceof SimulatedCrash || inv.crashed) throw error;
        this.release(a, container);
        throw error;
      }
      if (!inv.crashed) this.release(a, container);
    });
  }

  private release(a: Account, container: Container): void {
    container.idleSinceMs = this.options.loop.epochMs;
    this.idle.get(a.account)?.push(container);
  }

  private accountOf(account: string, region: string): Account {
    let a = this.accounts.get(account);
    if (a) return a;
    const { loop, backupAccount, backupRegion } = this.options;
    const clock: Clock = loop;
    const made = new Map<number, string>();
    // The doubles' hooks: a copy accepted now is ready after its duration, and AWS then says so.
    const rdsWorld = (kind: 'rds-snapshot' | 'aurora-cluster-snapshot') =>
      new MemoryRdsWorld({
        clock,
        copyDurationMs: (copy) => {
          const ms = this.options.intermediateMs(kind);
          loop.after(ms, () =>
            this.options.raise(() => this.onEvent(this.accountOf(account, region), kind, copy.targetId)),
          );
          return ms;
        },
      });
    const rds = rdsWorld('rds-snapshot');
    const clusters = rdsWorld('aurora-cluster-snapshot');
    const snapshotMs = this.options.intermediateMs('ebs-snapshot');
    const imageMs = this.options.intermediateMs('ami');
    const ec2 = new MemoryEc2World({
      clock,
      snapshotCopyMs: snapshotMs,
      imageCopyMs: imageMs,
      copyOutcome: (copy) => {
        const kind: KindName = copy.kind === 'image' ? 'ami' : 'ebs-snapshot';
        loop.after(copy.kind === 'image' ? imageMs : snapshotMs, () =>
          this.options.raise(() => this.onEvent(this.accountOf(account, region), kind, copy.sourceId)),
        );
        return 'succeeded';
      },
    });
    const shareKeyArn = rds.createKey(account, region, 'bunker-share', [backupAccount]);
    clusters.createKey(account, region, 'bunker-share', [backupAccount]);
    ec2.createKey(account, region, 'bunker-share', [backupAccount]);
    const scope = this.options.scope;
    a = {
      account,
      region,
      rds,
      clusters,
      ec2,
      rdsReader: rds.copier(backupAccount),
      clusterReader: clusters.copier(backupAccount),
      made,
      volumes: new Map(),
      settings: {
        prefix: 'bunker',
        partition: 'aws',
        backupAccount,
        sourceAccount: account,
        sourceRegion: region,
        shareKeyArn,
        intakeTopicArn: intakeTopicArn('bunker', backupAccount, backupRegion, account),
        scopes: { 'rds-snapshot': scope, 'aurora-cluster-snapshot': scope, 'ebs-snapshot': scope, ami: scope },
        intermediateRetentionHours: RETENTION_HOURS,
        intermediateHorizonHours: HORIZON_HOURS,
        maxIntermediateSnapshots: MAX_INTERMEDIATES,
      },
    };
    this.accounts.set(account, a);
    return a;
  }

  private publisher(a: Account): NotificationPublisher {
    return {
      publish: async (notification) => {
        this.published.set(a.account, (this.published.get(a.account) ?? 0) + 1);
        this.options.publish(a.settings.intakeTopicArn, notification);
      },
    };
  }

  private rdsDeps(a: Account, inv: Invocation, memory: AgentMemory): AgentDeps {
    const fo = this.options.faultOptions;
    return {
      settings: a.settings,
      rds: withFaults(a.rds.sourceRds(a.account, a.region), 'source-rds', inv, fo, 'rds-snapshot'),
      clusters: withFaults(a.clusters.sourceRds(a.account, a.region), 'source-rds', inv, fo, 'aurora-cluster-snapshot'),
      publisher: withFaults(this.publisher(a), 'publisher', inv, fo),
      clock: this.options.loop,
      log: silentLog,
      memory,
    };
  }

  private ec2Deps(a: Account, inv: Invocation, memory: AgentMemory): Ec2AgentDeps {
    const fo = this.options.faultOptions;
    return {
      settings: a.settings,
      ec2: withFaults(a.ec2.sourceEc2(a.account, a.region), 'source-ec2', inv, fo, ec2Kind),
      publisher: withFaults(this.publisher(a), 'publisher', inv, fo),
      clock: this.options.loop,
      log: silentLog,
      memory,
    };
  }
}

function ec2State(state: string): ArtifactState {
  if (state === 'completed') return 'available';
  if (state === 'pending') return 'pending';
  return 'failed';
}
