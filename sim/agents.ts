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
import { AgentMemory, DEFAULT_RPO_HOURS } from '../lambdas/core/agent/memory';
import type { Ec2AgentDeps } from '../lambdas/core/agent/ec2-agent';
import { TAG_SOURCE_IMAGE, TAG_SOURCE_VOLUME } from '../lambdas/core/agent/ec2-agent';
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
import {
  type ArtifactCopier,
  type ArtifactRef,
  type ArtifactState,
  KIND_NAMES,
  type KindName,
  type SourceView,
} from '../lambdas/kinds/types';
import type { EventLoop } from './clock';
import type { CountedCall, FaultOptions, Invocation } from './faults';
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
  /** Delivers a best-effort event (lost, duplicated, delayed as the run says) to `work`; how many times (0: lost). */
  readonly raise: (work: () => void) => number;
  /** How long an intermediate copy takes in the source account (ms). */
  readonly intermediateMs: (kind: KindName) => number;
  /** Told when a production artifact exists, with the id its service gave it. */
  readonly onMade: (artifact: ProductionArtifact, id: string) => void;
  /** Every kind's RPO, which the agents age originals by, as the stack tells deployed ones. @default 24 */
  readonly rpoHours?: number;
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

/**
 * The kind of artifact an EC2 call of the agent serves: an image's, when it
 * is about an image (by method, `imageByName` included, or by an `ami-` id)
 * or about a snapshot that backs one of the agent's intermediate images (it
 * carries `TAG_SOURCE_IMAGE`: the share and the delete of an image's
 * storage); else an EBS snapshot's.
 */
function ec2KindOf(ec2: MemoryEc2World, account: string, region: string) {
  return (method: string, args: readonly unknown[]): KindName => {
    const [first] = args;
    if (/image/i.test(method) || (typeof first === 'string' && first.startsWith('ami-'))) return 'ami';
    if (typeof first === 'string' && first.startsWith('snap-')) {
      return ec2.snapshot(account, region, first)?.tags[TAG_SOURCE_IMAGE] ? 'ami' : 'ebs-snapshot';
    }
    return 'ebs-snapshot';
  };
}

/** The agents of every source account; see the module comment. */
export class SourceAgents {
  private readonly accounts = new Map<string, Account>();
  /** Per account, its agent function's idle execution environments, the most recently used last. */
  private readonly idle = new Map<string, Container[]>();
  /** Execution environments started, over all accounts (cold starts). */
  containersStarted = 0;
  private readonly published = new Map<string, number>();
  /** Where each artifact's time went on the source side (figures only). */
  readonly trace = new SourceTrace();

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
      const key = SourceTrace.key(artifact.kind, a.account, id);
      this.trace.produced(key, loop.epochMs);
      if (this.options.raise(() => this.onEvent(a, artifact.kind, id)) === 0) {
        this.trace.hit(key, 'production-event-lost', loop.epochMs);
      }
    });
  }

  /**
   * Every source account's hourly sweep, from `firstAtMs` until the run
   * stops, as the deployed schedule runs it (`scheduled`: a kind is listed
   * when `sweepDue`, lambdas/core/agent/engine.ts).
   */
  scheduleSweeps(firstAtMs: number): void {
    const sweep = (at: number) => {
      this.options.loop.at(at, () => {
        for (const a of this.accounts.values()) {
          // One invocation sweeps both, as the handler does.
          void this.run(a, undefined, async (inv, memory) => {
            await sweepSource(this.rdsDeps(a, inv, memory, 'sweep'), 'scheduled');
            await sweepEc2Source(this.ec2Deps(a, inv, memory, 'sweep'), 'scheduled');
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
      const key = this.trace.keyOf(receipt.kind, a.account, receipt.id);
      void this.run(a, key, async (inv, memory) => {
        const step =
          receipt.kind === 'rds-snapshot' || receipt.kind === 'aurora-cluster-snapshot'
            ? await recordReceipt(receipt, this.rdsDeps(a, inv, memory, 'receipt'))
            : await recordEc2Receipt(receipt, this.ec2Deps(a, inv, memory, 'receipt'));
        if (step === 'recorded') this.trace.recorded(key, this.options.loop.epochMs);
      }).then((ok) => {
        if (!ok && receives < RECEIPT_RECEIVES) {
          this.options.loop.after(RECEIPT_RETRY_MS, () => this.deliverReceipt(receipt, receives + 1));
        }
      });
    });
  }

  /**
   * What the `accounts` share with the backup account in `region`, as the
   * vault's sweep lists them: the agents' intermediates (they carry
   * `TAG_INTERMEDIATE_OF`; the adapters tell them by name or description,
   * which the doubles share). Each account has its own doubles, so the one
   * listing of the Region is read account by account; the request count is
   * the adapter's (sim/memory-requests.ts).
   */
  async listShared(kind: KindName, region: string, accounts: readonly string[]): Promise<ArtifactRef[]> {
    const refs: ArtifactRef[] = [];
    for (const account of new Set(accounts)) {
      const a = this.accounts.get(account);
      if (a?.region === region) refs.push(...(await this.sharedBy(a, kind)));
    }
    return refs;
  }

  private async sharedBy(a: Account, kind: KindName): Promise<ArtifactRef[]> {
    const { account, region } = a;
    // The RDS doubles' copier answers DB snapshot refs: an Aurora share is named as the kind asked for.
    if (kind === 'rds-snapshot' || kind === 'aurora-cluster-snapshot') {
      const reader = kind === 'rds-snapshot' ? a.rdsReader : a.clusterReader;
      return (await reader.listShared(region, [account])).map((ref) => ({ ...ref, kind }));
    }
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

  /**
   * The production resource's tags, as the vault's copiers read them when
   * the intermediate does not settle the scope: the DB instance's or
   * cluster's through the RDS double's reader, the volume's under the EBS
   * snapshot's own.
   */
  async resourceScopeTags(view: SourceView): Promise<Readonly<Record<string, string>>> {
    const a = this.accounts.get(view.ref.account);
    if (!a || a.region !== view.ref.region || !view.resourceId) return view.scopeTags;
    if (view.ref.kind === 'rds-snapshot' || view.ref.kind === 'aurora-cluster-snapshot') {
      const reader = view.ref.kind === 'rds-snapshot' ? a.rdsReader : a.clusterReader;
      return (await reader.resourceScopeTags?.(view)) ?? view.scopeTags;
    }
    return { ...a.ec2.volumeTags(a.account, a.region, view.resourceId), ...view.scopeTags };
  }

  /** The source as the vault's reader role sees it, read from the account's worlds. */
  async describe(ref: ArtifactRef): Promise<SourceView | undefined> {
    const a = this.accounts.get(ref.account);
    if (!a || a.region !== ref.region) return undefined;
    if (ref.kind === 'rds-snapshot' || ref.kind === 'aurora-cluster-snapshot') {
      // The RDS double's own reader: the snapshot's own tags, as the adapter's describe answers.
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
    void this.run(a, this.trace.keyOf(kind, a.account, id), (inv, memory) => {
      if (kind === 'rds-snapshot' || kind === 'aurora-cluster-snapshot') {
        return processSnapshot(id, this.rdsDeps(a, inv, memory, 'event'), kind);
      }
      return kind === 'ebs-snapshot'
        ? processEbsSnapshot(id, this.ec2Deps(a, inv, memory, 'event'))
        : processImage(id, this.ec2Deps(a, inv, memory, 'event'));
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
  private run(
    a: Account,
    about: string | undefined,
    work: (inv: Invocation, memory: AgentMemory) => Promise<unknown>,
  ): Promise<boolean> {
    return this.options.invoke('source-agent', async (inv) => {
      const now = this.options.loop.epochMs;
      const pool: Container[] = [];
      for (const c of this.idle.get(a.account) ?? []) {
        if (now - c.idleSinceMs < IDLE_RECLAIM_MS) pool.push(c);
        else this.forget(a, c, 'forgotten-idle');
      }
      this.idle.set(a.account, pool);
      let container = pool.pop();
      if (!container) {
        container = { memory: new AgentMemory(), idleSinceMs: now };
        this.containersStarted += 1;
        this.trace.coldStarts += 1;
      }
      try {
        await work(inv, container.memory);
      } catch (error) {
        if (error instanceof SimulatedCrash || inv.crashed) {
          this.crashed(a, container, about);
          throw error;
        }
        this.release(a, container);
        throw error;
      }
      if (inv.crashed) this.crashed(a, container, about);
      else this.release(a, container);
    });
  }

  /** A crash ends the environment: what it was doing, and the originals it held back, wait for someone else. */
  private crashed(a: Account, container: Container, about: string | undefined): void {
    this.trace.environmentsCrashed += 1;
    this.trace.hit(about, 'crash', this.options.loop.epochMs);
    this.forget(a, container, 'forgotten-crash');
  }

  /** The originals an environment held back, forgotten with it. */
  private forget(a: Account, container: Container, cause: SourceCause): void {
    for (const kind of ['rds-snapshot', 'aurora-cluster-snapshot', 'ebs-snapshot', 'ami'] as const) {
      for (const id of container.memory.of(kind).deferred.keys()) {
        this.trace.hit(SourceTrace.key(kind, a.account, id), cause, this.options.loop.epochMs);
      }
    }
  }

  /** `port` with every call marked as made by a `by` invocation, for the trace's hooks. */
  private labelled<T extends object>(port: T, by: Trigger): T {
    return new Proxy(port, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          this.trace.by = by;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  /** The fault options, with every request also tallied under the trigger of the invocation that made it. */
  private countedBy(by: Trigger): FaultOptions {
    const options = this.options.faultOptions;
    return {
      ...options,
      count: (call) => {
        this.trace.counted(by, call);
        options.count(call);
      },
    };
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
        arnKind: kind,
        copyDurationMs: (copy) => {
          const ms = this.options.intermediateMs(kind);
          const key = SourceTrace.key(kind, account, copy.sourceArn.slice(copy.sourceArn.lastIndexOf(':') + 1));
          this.trace.requested(key, account, copy.targetId, loop.epochMs, loop.epochMs + ms);
          loop.after(ms, () => {
            const events = this.options.raise(() => this.onEvent(this.accountOf(account, region), kind, copy.targetId));
            if (events === 0) this.trace.hit(key, 'ready-event-lost', loop.epochMs);
          });
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
        const ms = copy.kind === 'image' ? imageMs : snapshotMs;
        const key = SourceTrace.key(kind, account, copy.sourceId);
        this.trace.requested(key, account, undefined, loop.epochMs, loop.epochMs + ms);
        // The copy's log entry is the next one (the world logs it once made): its id is what AWS's event names,
        // the new snapshot (`snapshot_id` of the copySnapshot notification) or the new image (`ImageId`).
        const entry = ec2.copies.length;
        loop.after(ms, () => {
          const targetId = ec2.copies[entry]?.targetId ?? copy.sourceId;
          this.trace.intermediateIs(key, account, targetId);
          const events = this.options.raise(() => this.onEvent(this.accountOf(account, region), kind, targetId));
          if (events === 0) this.trace.hit(key, 'ready-event-lost', loop.epochMs);
        });
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
        rpoHours: Object.fromEntries(KIND_NAMES.map((kind) => [kind, this.options.rpoHours ?? DEFAULT_RPO_HOURS])),
      },
    };
    this.accounts.set(account, a);
    return a;
  }

  private publisher(a: Account, by: Trigger): NotificationPublisher {
    return {
      publish: async (notification) => {
        this.published.set(a.account, (this.published.get(a.account) ?? 0) + 1);
        this.trace.by = by;
        if ('id' in notification) {
          this.trace.announced(
            this.trace.keyOf(notification.kind, a.account, notification.id),
            this.options.loop.epochMs,
          );
        }
        this.options.publish(a.settings.intakeTopicArn, notification);
      },
    };
  }

  private rdsDeps(a: Account, inv: Invocation, memory: AgentMemory, by: Trigger): AgentDeps {
    const fo = this.countedBy(by);
    const rds = this.labelled(a.rds.sourceRds(a.account, a.region), by);
    const clusters = this.labelled(a.clusters.sourceRds(a.account, a.region), by);
    return {
      settings: a.settings,
      rds: withFaults(rds, 'source-rds', inv, fo, 'rds-snapshot'),
      clusters: withFaults(clusters, 'source-rds', inv, fo, 'aurora-cluster-snapshot'),
      publisher: withFaults(this.publisher(a, by), 'publisher', inv, fo),
      clock: this.options.loop,
      log: silentLog,
      memory,
      rpoHours: a.settings.rpoHours,
    };
  }

  private ec2Deps(a: Account, inv: Invocation, memory: AgentMemory, by: Trigger): Ec2AgentDeps {
    const fo = this.countedBy(by);
    return {
      settings: a.settings,
      ec2: withFaults(
        this.labelled(a.ec2.sourceEc2(a.account, a.region), by),
        'source-ec2',
        inv,
        fo,
        ec2KindOf(a.ec2, a.account, a.region),
      ),
      publisher: withFaults(this.publisher(a, by), 'publisher', inv, fo),
      clock: this.options.loop,
      log: silentLog,
      memory,
      rpoHours: a.settings.rpoHours,
    };
  }
}

// ---------------------------------------------------------------------------
// Where the source side's time goes
// ---------------------------------------------------------------------------

/**
 * What held up an artifact on the source side: its production event lost,
 * its intermediate's "copy finished" event lost, an invocation about it
 * that crashed, or its deferral forgotten with the execution environment
 * that held it (crashed, or reclaimed idle).
 */
export type SourceCause = 'production-event-lost' | 'ready-event-lost' | 'crash' | 'forgotten-crash' | 'forgotten-idle';
const SOURCE_CAUSES: readonly SourceCause[] = [
  'production-event-lost',
  'ready-event-lost',
  'crash',
  'forgotten-crash',
  'forgotten-idle',
];

/** Which kind of invocation did a step: an event, a receipt, or the hourly sweep. */
export type Trigger = 'event' | 'receipt' | 'sweep';

/** One artifact's way through its source account (virtual ms). */
interface Timeline {
  readonly producedAtMs: number;
  requestedAtMs?: number;
  requestedBy?: Trigger;
  readyAtMs?: number;
  announcedAtMs?: number;
  announcedBy?: Trigger;
  doneAtMs?: number;
  recordedAtMs?: number;
  /** The first time each cause hit it. */
  readonly hits: Map<SourceCause, number>;
}

/** A {@link Timeline} as the figures read it: the first time each cause hit it, by cause. */
export type SourceTimeline = Readonly<Omit<Timeline, 'hits'>> & {
  readonly hits: Readonly<Partial<Record<SourceCause, number>>>;
};

/** The wait a cause made: from when it hit to the artifact's next step, over the artifacts it hit. */
export interface CauseWait {
  readonly artifacts: number;
  readonly meanMinutes: number;
  readonly maxMinutes: number;
  readonly totalHours: number;
  /** Of those, the ones whose next step only the hourly sweep took. */
  readonly recoveredBySweep: number;
}

export interface SourceWaits {
  /** Mean minutes per artifact in each stage: production to intermediate requested (the cap's wait included), the intermediate copy, ready to announced, announced to the vault's copy recorded, that to the receipt recorded. */
  readonly stageMeanMinutes: Readonly<Record<'request' | 'intermediate' | 'announce' | 'vault' | 'receipt', number>>;
  /** Intermediates the hourly sweep requested or announced: their artifacts waited for it. */
  readonly requestedBySweep: number;
  readonly announcedBySweep: number;
  readonly byCause: Readonly<Record<SourceCause, CauseWait>>;
  /** Execution environments started (cold starts), and those lost to a crash. */
  readonly coldStarts: number;
  readonly environmentsCrashed: number;
  /** Requests per production artifact of each kind, by trigger and `port.method` (retries included). */
  readonly requestsByTrigger: Readonly<Record<Trigger, Readonly<Partial<Record<KindName, Record<string, number>>>>>>;
}

/**
 * Follows every artifact through its source account: when its intermediate
 * was requested, ready, announced and its receipt recorded, which kind of
 * invocation took each step, and what hit it on the way. Read only by the
 * figures: nothing the agents do depends on it.
 */
export class SourceTrace {
  private readonly timelines = new Map<string, Timeline>();
  /** An intermediate's id to its production artifact's key. */
  private readonly ofIntermediate = new Map<string, string>();
  /** The trigger of the invocation whose port call runs now (port calls run one at a time on the loop). */
  by: Trigger = 'event';
  coldStarts = 0;
  environmentsCrashed = 0;
  /** Requests by trigger, kind and `port.method` (SDK retries included). */
  private readonly requests = new Map<string, number>();
  /** Production artifacts per kind, to share the requests out by. */
  private readonly producedOf = new Map<KindName, number>();

  static key(kind: KindName, account: string, productionId: string): string {
    return `${kind}:${account}:${productionId}`;
  }

  produced(key: string, atMs: number): void {
    this.timelines.set(key, { producedAtMs: atMs, hits: new Map() });
    const kind = key.slice(0, key.indexOf(':')) as KindName;
    this.producedOf.set(kind, (this.producedOf.get(kind) ?? 0) + 1);
  }

  /** A port call of the source side, made by a `by` invocation. */
  counted(by: Trigger, call: CountedCall): void {
    const key = `${by}|${call.kind ?? 'none'}|${call.port}.${call.method}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + call.requests);
  }

  /** The artifact an id names: a production id (by key) or an intermediate's. */
  keyOf(kind: KindName, account: string, id: string): string | undefined {
    const key = SourceTrace.key(kind, account, id);
    return this.timelines.has(key) ? key : this.ofIntermediate.get(`${account}:${id}`);
  }

  requested(key: string, account: string, intermediateId: string | undefined, atMs: number, readyAtMs: number): void {
    const t = this.timelines.get(key);
    if (intermediateId) this.ofIntermediate.set(`${account}:${intermediateId}`, key);
    if (!t || t.requestedAtMs !== undefined) return;
    t.requestedAtMs = atMs;
    t.requestedBy = this.by;
    t.readyAtMs = readyAtMs;
  }

  intermediateIs(key: string, account: string, intermediateId: string): void {
    this.ofIntermediate.set(`${account}:${intermediateId}`, key);
  }

  announced(key: string | undefined, atMs: number): void {
    const t = key ? this.timelines.get(key) : undefined;
    if (!t || t.announcedAtMs !== undefined) return;
    t.announcedAtMs = atMs;
    t.announcedBy = this.by;
  }

  done(key: string, atMs: number): void {
    const t = this.timelines.get(key);
    if (t && t.doneAtMs === undefined) t.doneAtMs = atMs;
  }

  recorded(key: string | undefined, atMs: number): void {
    const t = key ? this.timelines.get(key) : undefined;
    if (t && t.recordedAtMs === undefined) t.recordedAtMs = atMs;
  }

  /** One artifact's way through its source account so far (for the figures of a pool's last copies). */
  timelineOf(key: string): SourceTimeline | undefined {
    const t = this.timelines.get(key);
    return t ? { ...t, hits: Object.fromEntries(t.hits) } : undefined;
  }

  hit(key: string | undefined, cause: SourceCause, atMs: number): void {
    const t = key ? this.timelines.get(key) : undefined;
    if (t && !t.hits.has(cause)) t.hits.set(cause, atMs);
  }

  summary(): SourceWaits {
    const stages = { request: [0, 0], intermediate: [0, 0], announce: [0, 0], vault: [0, 0], receipt: [0, 0] };
    const add = (stage: keyof typeof stages, from?: number, to?: number) => {
      if (from === undefined || to === undefined) return;
      stages[stage][0] += to - from;
      stages[stage][1] += 1;
    };
    const waits = new Map<SourceCause, { ms: number[]; bySweep: number }>(
      SOURCE_CAUSES.map((c) => [c, { ms: [], bySweep: 0 }]),
    );
    let requestedBySweep = 0;
    let announcedBySweep = 0;
    for (const t of this.timelines.values()) {
      add('request', t.producedAtMs, t.requestedAtMs);
      add('intermediate', t.requestedAtMs, t.readyAtMs);
      add('announce', t.readyAtMs, t.announcedAtMs);
      add('vault', t.announcedAtMs, t.doneAtMs);
      add('receipt', t.doneAtMs, t.recordedAtMs);
      if (t.requestedBy === 'sweep') requestedBySweep += 1;
      if (t.announcedBy === 'sweep') announcedBySweep += 1;
      for (const [cause, at] of t.hits) {
        // The step it held up: the next one after it hit.
        const steps: [number | undefined, Trigger | undefined][] = [
          [t.requestedAtMs, t.requestedBy],
          [t.announcedAtMs, t.announcedBy],
          [t.recordedAtMs, 'receipt'],
        ];
        const from = cause === 'ready-event-lost' ? (t.readyAtMs ?? at) : at;
        const next = steps.find(([when]) => when !== undefined && when >= from);
        if (!next) continue;
        const w = waits.get(cause) as { ms: number[]; bySweep: number };
        w.ms.push((next[0] as number) - from);
        if (next[1] === 'sweep') w.bySweep += 1;
      }
    }
    const minutes = (ms: number) => Math.round((ms / 60_000) * 10) / 10;
    return {
      stageMeanMinutes: Object.fromEntries(
        Object.entries(stages).map(([stage, [ms, n]]) => [stage, n > 0 ? minutes(ms / n) : 0]),
      ) as SourceWaits['stageMeanMinutes'],
      requestedBySweep,
      announcedBySweep,
      byCause: Object.fromEntries(
        [...waits].map(([cause, { ms, bySweep }]) => {
          const total = ms.reduce((sum, x) => sum + x, 0);
          const wait: CauseWait = {
            artifacts: ms.length,
            meanMinutes: ms.length > 0 ? minutes(total / ms.length) : 0,
            maxMinutes: minutes(Math.max(0, ...ms)),
            totalHours: Math.round((total / 3_600_000) * 10) / 10,
            recoveredBySweep: bySweep,
          };
          return [cause, wait];
        }),
      ) as Record<SourceCause, CauseWait>,
      coldStarts: this.coldStarts,
      environmentsCrashed: this.environmentsCrashed,
      requestsByTrigger: this.requestsByTrigger(),
    };
  }

  private requestsByTrigger(): SourceWaits['requestsByTrigger'] {
    const by: Record<Trigger, Partial<Record<KindName, Record<string, number>>>> = {
      event: {},
      receipt: {},
      sweep: {},
    };
    for (const [key, n] of this.requests) {
      const [trigger, kind, call] = key.split('|') as [Trigger, KindName, string];
      const artifacts = this.producedOf.get(kind) ?? 0;
      if (artifacts === 0) continue;
      const calls = (by[trigger][kind] ??= {});
      calls[call] = Math.round((n / artifacts) * 1000) / 1000;
    }
    return by;
  }
}

function ec2State(state: string): ArtifactState {
  if (state === 'completed') return 'available';
  if (state === 'pending') return 'pending';
  return 'failed';
}
