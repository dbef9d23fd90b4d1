/**
 * How many AWS requests one call of a port makes in its SDK adapter, for
 * the simulation's counts: the memory doubles answer a port call at once,
 * but the adapter behind the same port may send several requests (intake's
 * `describeSource` is 2 for an RDS snapshot: the snapshot and its share
 * attribute; its DB instance's tags are a call of their own,
 * `resourceScopeTags`, made only when the intermediate's carried scope tag
 * does not settle the scope), and sends them whether AWS accepts them or
 * not (a copy refused on the quota is a request too).
 *
 * Each entry is read from the adapter named beside it and answers from the
 * call's arguments and outcome, the way the adapter's own branches go: a
 * describe that finds nothing stops after the first request, an image's
 * backing snapshots are read one by one, an EBS or AMI copy looks for an
 * existing copy by name before it copies. Listings answer `'pages'`: one
 * request per page of the SDK paginator, which the caller counts from the
 * listing's length. A port or method not in the table is one request.
 *
 * `test/core/sim-aws-requests.test.ts` holds the table to the emulator's
 * count of the same artifact (`test/emulator/calls-per-artifact.test.ts`).
 */
import type { InventoryRecord } from '../lambdas/core/inventory';
import type { ArtifactRef, CopyStarted, CopyView, KindName, SourceView } from '../lambdas/kinds/types';

/** One port call as it ended: with its answer, or with the error AWS (or the double) refused it with. */
export interface AnsweredCall {
  readonly port: string;
  readonly method: string;
  /** The kind of artifact the call is about, when the caller knows it. */
  readonly kind?: KindName;
  readonly args: readonly unknown[];
  readonly outcome: { readonly result: unknown } | { readonly error: unknown };
}

/** Requests of one call; `'pages'`: one per page of the listing. */
export type RequestCount = number | 'pages';

type Rule = (call: AnsweredCall, target: object) => RequestCount | Promise<RequestCount>;

const resultOf = (call: AnsweredCall): unknown => ('result' in call.outcome ? call.outcome.result : undefined);
const refused = (call: AnsweredCall) => 'error' in call.outcome;

/**
 * The vault's `describeSource` (`lambdas/adapters/rds-family.ts`,
 * `lambdas/kinds/{ebs-snapshot,ami}/copier.ts`): nothing found is the one
 * describe; found, the kind's reads of sharing and children. The
 * resource's tags are not read here (`resourceScopeTags`, one request).
 */
function describeSource(call: AnsweredCall): number {
  const view = resultOf(call) as SourceView | undefined;
  if (!view) return 1;
  // An image: DescribeImages, DescribeImageAttribute, and per backing snapshot DescribeSnapshots (and
  // DescribeSnapshotAttribute when it exists: the view then says who it is shared with).
  if (call.kind === 'ami') return 2 + (view.children ?? []).reduce((n, child) => n + (child.sharedWith ? 2 : 1), 0);
  // An EBS snapshot: DescribeSnapshots, DescribeSnapshotAttribute. RDS and Aurora: DescribeDB(Cluster)Snapshots and
  // the share attribute.
  return 2;
}

/** An AMI copy's describe: DescribeImages, then DescribeSnapshots per backing snapshot of an image found. */
const amiDescribe = (copy: CopyView | undefined) => (copy ? 1 + (copy.children?.length ?? 0) : 1);

/**
 * The vault's `copy`: RDS and Aurora send the copy alone ("already exists"
 * is its answer); EBS and AMI first look for a copy of the deterministic
 * name (`describeCopy`), and copy only when there is none.
 */
function copy(call: AnsweredCall): number {
  if (call.kind === 'rds-snapshot' || call.kind === 'aurora-cluster-snapshot') return 1;
  const started = resultOf(call) as CopyStarted | undefined;
  // Found by the look: the look alone (an AMI's look also reads the image's backing snapshot).
  if (started?.outcome === 'exists') return call.kind === 'ami' ? 2 : 1;
  // Started, or refused by AWS: the look that found nothing and the copy request.
  return refused(call) || started ? 2 : 1;
}

/**
 * The lock (`lockSnapshotOnce`): DescribeLockedSnapshots, then LockSnapshot
 * unless a lock is there; an AMI adds EnableImageDeregistrationProtection
 * and locks each backing snapshot. Counted as a first lock.
 */
function protect(call: AnsweredCall): number {
  const [view] = call.args as [CopyView | undefined];
  return call.kind === 'ami' ? 1 + 2 * (view?.children?.length ?? 1) : 2;
}

/**
 * The pools whose last `nextWaiting` found a record, per double: the
 * adapter's own hint (`DynamoInventory`'s `backlogged`), kept here the same
 * way, since the adapter's order of queries depends on it.
 */
const backlogged = new WeakMap<object, Set<string>>();

/**
 * `nextWaiting` (`DynamoInventory.nextWaiting`). During a backlog (the last
 * answer for the pool was a record): one query past `afterAccount`, and a
 * second for the queue's first record when nothing is past it. Otherwise:
 * one query for the queue's first record; a second, past `afterAccount`,
 * only when the first is not already past it. The answer alone cannot
 * always tell, so the double is asked for the first record (a read of the
 * double, not a port call).
 */
async function nextWaiting(call: AnsweredCall, target: object): Promise<number> {
  const [pool, afterAccount] = call.args as [string, string | undefined];
  const answer = resultOf(call) as InventoryRecord | undefined;
  if (refused(call)) return 1;
  const pools = backlogged.get(target) ?? new Set<string>();
  backlogged.set(target, pools);
  if (afterAccount !== undefined && pools.has(pool)) {
    if (answer && (answer.sourceAccount ?? '') > afterAccount) return 1;
    if (!answer) pools.delete(pool);
    return 2;
  }
  if (answer) pools.add(pool);
  else pools.delete(pool);
  if (!answer || afterAccount === undefined) return 1;
  if ((answer.sourceAccount ?? '') <= afterAccount) return 2;
  const inventory = target as { nextWaiting(pool: string): Promise<InventoryRecord | undefined> };
  const first = await inventory.nextWaiting(pool);
  return first?.artifactId === answer.artifactId ? 1 : 2;
}

/** Owners one EC2 listing request takes (`OWNERS_PER_LISTING`, lambdas/kinds/ebs-snapshot/copier.ts). */
const EC2_OWNERS_PER_REQUEST = 200;

/**
 * The sweep's take-in listing of a Region (`listShared(region, accounts)`):
 * RDS and Aurora list every share of the Region, 100 a page
 * (DescribeDB(Cluster)Snapshots); EC2 asks for 200 owners a request, 1,000
 * snapshots or images a page. Counted from the answer, which in the
 * simulation is the whole answer: the sweep asks for every account of the
 * Region, and nothing but the agents' intermediates is shared. No
 * accounts, no request; refused, the one request.
 */
function listShared(call: AnsweredCall): number {
  const [, accounts] = call.args as [string, readonly string[] | undefined];
  const owners = [...new Set(accounts ?? [])];
  if (owners.length === 0) return 0;
  if (refused(call)) return 1;
  const listed = (resultOf(call) as readonly ArtifactRef[] | undefined) ?? [];
  if (call.kind === 'rds-snapshot' || call.kind === 'aurora-cluster-snapshot') {
    return Math.max(1, Math.ceil(listed.length / 100));
  }
  let requests = 0;
  for (let start = 0; start < owners.length; start += EC2_OWNERS_PER_REQUEST) {
    const asked = new Set(owners.slice(start, start + EC2_OWNERS_PER_REQUEST));
    requests += Math.max(1, Math.ceil(listed.filter((ref) => asked.has(ref.account)).length / 1_000));
  }
  return requests;
}

/** DynamoDB's BatchGetItem takes 100 keys a request (`DynamoInventory.existing`); no ids, no request. */
const BATCH_GET_KEYS = 100;

const RULES: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  /** `lambdas/kinds/*` copiers, as the vault's functions use them. */
  copier: {
    describeSource,
    /** DescribeDB(Instances|Clusters) or DescribeVolumes of the view's resource; intake asks only when it has one. */
    resourceScopeTags: () => 1,
    listShared,
    copy,
    describeCopy: (call) => (call.kind === 'ami' ? amiDescribe(resultOf(call) as CopyView | undefined) : 1),
    /** A pool's batched look (`lambdas/adapters/rds-family.ts`): one filtered DescribeDB(Cluster)Snapshots of up to 100 ids. */
    describeCopies: () => 1,
    protect,
  },
  /** `lambdas/adapters/dynamo-inventory.ts`. */
  inventory: {
    existing: (call) => Math.ceil(new Set((call.args[0] as readonly string[]) ?? []).size / BATCH_GET_KEYS),
    nextWaiting,
    listByStatus: () => 'pages',
    list: () => 'pages',
  },
  /** `lambdas/adapters/rds.ts` (`AgentRds`, `AgentRdsClusters`). */
  'source-rds': {
    listSnapshots: () => 'pages',
  },
  /** `lambdas/adapters/agent-ec2.ts`. */
  'source-ec2': {
    listSnapshots: () => 'pages',
    listImages: () => 'pages',
  },
};

/**
 * The AWS requests `call` made through its adapter; `target` is the double
 * that answered it (read only for what the answer leaves open).
 */
export function awsRequestsOf(call: AnsweredCall, target: object): RequestCount | Promise<RequestCount> {
  const rule = RULES[call.port]?.[call.method];
  return rule ? rule(call, target) : 1;
}
