/**
 * Handler CPU per message: `bench/bundles.ts` bundles this driver with the
 * functions' own esbuild options and runs it in a fresh `node`, once per
 * handler, as `node driver.mjs <handler> <messages>`. It prints one JSON
 * line, `{ "handler", "messages", "cpuMs" }`.
 *
 * The handler is the real one, built by its factory (`createIntakeHandler`
 * and friends), over the in-memory doubles of the core's tests
 * (test/core/support/memory-fixtures.ts): its parsing, validation and core
 * decisions are measured, the SDK's request work is not (see the bundling
 * section of docs/architecture.md). A warm-up batch runs first, so the
 * figure is a warm container's, not a cold start's.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { SQSEvent } from 'aws-lambda';
import { hmacFingerprint } from '../lambdas/core/pull/fingerprint';
import { runPull } from '../lambdas/core/pull/run';
import type { PullSettings } from '../lambdas/core/pull/types';
import type { PullHandlerSettings } from '../lambdas/core/settings';
import type { AuditSettings } from '../lambdas/core/audit/types';
import { listedSources } from '../lambdas/core/enrolment/registry';
import { type InventoryRecord, newRecord } from '../lambdas/core/inventory';
import { intermediateSnapshotId } from '../lambdas/core/names';
import { silentLog } from '../lambdas/core/ports';
import { createAuditHandler } from '../lambdas/handlers/audit';
import { createPrunerHandler } from '../lambdas/handlers/pruner';
import { createPullHandler } from '../lambdas/handlers/pull';
import { createCompletionHandler } from '../lambdas/handlers/completion';
import { createIntakeHandler } from '../lambdas/handlers/intake';
import { createSourceAgentHandler } from '../lambdas/handlers/source-agent';
import { createSweepHandler } from '../lambdas/handlers/sweep';
import { rdsSnapshot } from '../lambdas/kinds/rds-snapshot/kind';
import {
  agentFixture,
  BACKUP,
  COPY_MS,
  delivered,
  IN_SCOPE,
  notificationV2,
  REGION,
  rdsRef,
  SOURCE,
  vaultFixture,
} from '../test/core/support/memory-fixtures';
import { MemoryAlerts, MemoryAuditRecords, MemoryScopeDiscovery } from '../sim/memory-audit';
import { ManualClock, MemoryInventory } from '../sim/memory-aws';
import { MemoryPulledInventory, MemoryVaultStore } from '../sim/memory-pull';
import { MemorySsm } from '../sim/memory-pull-sources';
import { MemoryCopies } from '../sim/memory-retention';

/** The handlers this driver measures per message. */
export const DRIVEN_HANDLERS = ['intake', 'completion', 'sweep', 'source-agent', 'audit', 'pruner', 'pull'] as const;
export type DrivenHandler = (typeof DRIVEN_HANDLERS)[number];

const WARM_UP = 20;

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** An EventBridge event as a rule delivers it. */
function eventOf(source: string, detailType: string, account: string, detail: object) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source,
    account,
    time: new Date().toISOString(),
    region: REGION,
    resources: [],
    detail,
  };
}

function sqsEvent(bodies: readonly string[], queue = 'bunker-intake'): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `m-${i}`,
      receiptHandle: `r-${i}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 'sns',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${REGION}:${BACKUP}:${queue}`,
      awsRegion: REGION,
    })),
  };
}

const idsOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** A vault over the memory world with `n` snapshots shared and announced to intake, but not yet delivered. */
function vaultWith(prefix: string, n: number) {
  // One database a snapshot: copies of one database run one after another, and these are to run at once.
  const vault = vaultFixture({ maxCopies: 1_000_000, world: { copyQuota: 1_000_000 }, oneDatabaseEach: true });
  const ids = idsOf(prefix, n);
  for (const id of ids) vault.shared(id);
  const bodies = ids.map((id) => delivered(notificationV2(id, { publishedAt: vault.clock.now().toISOString() })));
  return { vault, ids, bodies };
}

/** Delivers `bodies` to intake in batches of 10, as the event source mapping does. */
async function intake(handler: ReturnType<typeof createIntakeHandler>, bodies: readonly string[]) {
  for (let i = 0; i < bodies.length; i += 10) {
    const response = await handler(sqsEvent(bodies.slice(i, i + 10)));
    if (response.batchItemFailures.length > 0) throw new Error(`intake failed ${JSON.stringify(response)}`);
  }
}

/** Runs `work` on the warm-up messages, then measures it on the rest; CPU milliseconds of the measured part. */
async function measure(prepare: (n: number) => Promise<(part: 'warm-up' | 'measured') => Promise<void>>, n: number) {
  const run = await prepare(n);
  await run('warm-up');
  const start = cpuMs();
  await run('measured');
  return cpuMs() - start;
}

const drivers: Record<DrivenHandler, (n: number) => Promise<(part: 'warm-up' | 'measured') => Promise<void>>> = {
  async intake(n) {
    const { vault, bodies } = vaultWith('nightly', n + WARM_UP);
    const handler = createIntakeHandler(vault.deps);
    return (part) => intake(handler, part === 'warm-up' ? bodies.slice(0, WARM_UP) : bodies.slice(WARM_UP));
  },
  async completion(n) {
    const { vault, ids, bodies } = vaultWith('nightly', n + WARM_UP);
    await intake(createIntakeHandler(vault.deps), bodies);
    vault.clock.advance(COPY_MS);
    const handler = createCompletionHandler(vault.deps);
    const events = ids.map((id) => {
      const finished = rdsSnapshot.finishedCopyEvent(rdsSnapshot.targetName(rdsRef(id), 0), REGION, 'aws');
      return eventOf(finished.source, finished.detailType, BACKUP, finished.detail);
    });
    return async (part) => {
      for (const event of part === 'warm-up' ? events.slice(0, WARM_UP) : events.slice(WARM_UP)) {
        const outcome = await handler(event);
        if (outcome.outcome !== 'settled') throw new Error(`completion: ${JSON.stringify(outcome)}`);
      }
    };
  },
  async sweep(n) {
    // Two vaults: the warm-up sweep settles its own copies, the measured one settles n.
    const warm = vaultWith('warm', WARM_UP);
    const measured = vaultWith('nightly', n);
    await intake(createIntakeHandler(warm.vault.deps), warm.bodies);
    await intake(createIntakeHandler(measured.vault.deps), measured.bodies);
    warm.vault.clock.advance(COPY_MS);
    measured.vault.clock.advance(COPY_MS);
    return async (part) => {
      const { vault } = part === 'warm-up' ? warm : measured;
      const summary = await createSweepHandler(vault.deps)();
      if (summary.available !== (part === 'warm-up' ? WARM_UP : n))
        throw new Error(`sweep: ${JSON.stringify(summary)}`);
    };
  },
  async 'source-agent'(n) {
    const agent = agentFixture({ maxIntermediates: 1_000_000 });
    const ids = idsOf('nightly', n + WARM_UP);
    agent.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    const handler = createSourceAgentHandler(agent.deps);
    // Each snapshot is taken just before its event: snapshots made up front would be found by the agent's count
    // as missed once the clock passes five minutes, and started before their own event arrives.
    // Each snapshot's two events: made (the agent copies it to an intermediate), then that copy finished.
    // Ten at a time, within the memory world's copy quota.
    const run = async (snapshots: readonly string[]) => {
      for (let i = 0; i < snapshots.length; i += 10) {
        const batch = snapshots.slice(i, i + 10);
        for (const id of batch) agent.snapshot(id);
        for (const id of batch) {
          await handler(eventOf('aws.rds', 'RDS DB Snapshot Event', SOURCE, { SourceIdentifier: id }));
        }
        agent.clock.advance(COPY_MS);
        for (const id of batch) {
          const detail = { SourceIdentifier: intermediateSnapshotId(id) };
          const result = await handler(eventOf('aws.rds', 'RDS DB Snapshot Event', SOURCE, detail));
          if (!('step' in result) || result.step !== 'notified') throw new Error(`agent: ${JSON.stringify(result)}`);
        }
      }
    };
    return (part) => run(part === 'warm-up' ? ids.slice(0, WARM_UP) : ids.slice(WARM_UP));
  },
  async pruner(n) {
    const warm = await prunerOf(WARM_UP);
    const measured = await prunerOf(n);
    return async (part) => {
      const summary = await (part === 'warm-up' ? warm : measured)();
      if (summary.expired !== (part === 'warm-up' ? WARM_UP : n)) throw new Error(`pruner: ${JSON.stringify(summary)}`);
    };
  },
  async pull(n) {
    const handler = await pullerOf();
    return async (part) => {
      for (let i = 0; i < (part === 'warm-up' ? WARM_UP : n); i++) await handler();
    };
  },
  async audit(n) {
    const warm = await auditorOf(WARM_UP);
    const measured = await auditorOf(n);
    return async (part) => {
      const summary = await (part === 'warm-up' ? warm : measured)();
      if (summary.ok !== (part === 'warm-up' ? WARM_UP : n)) throw new Error(`audit: ${JSON.stringify(summary)}`);
    };
  },
};

/**
 * An auditor over `n` DB instances in scope, each with a fresh copy in the
 * inventory: one scheduled run judges them all, so its "message" is one
 * resource judged.
 */
async function auditorOf(n: number) {
  const now = new Date('2026-03-02T12:00:00.000Z');
  const taken = '2026-03-02T06:00:00.000Z';
  const settings: AuditSettings = {
    prefix: 'bunker',
    backupAccount: BACKUP,
    sources: [{ account: SOURCE, regions: [REGION] }],
    kinds: { 'rds-snapshot': { rpoHours: 24, scope: { tag: { key: 'backup', value: 'daily' } } } },
    stuckAfterHours: 6,
  };
  const inventory = new MemoryInventory();
  const discovery = new MemoryScopeDiscovery();
  for (const db of idsOf('orders-db', n)) {
    discovery.add('rds-snapshot', SOURCE, REGION, { id: db, scopeIds: [db], tags: IN_SCOPE });
    const snapshot = `rds:${db}-2026-03-02-06-00`;
    await inventory.create(
      newRecord(
        {
          artifactId: `rds-snapshot:${SOURCE}:${REGION}:${snapshot}`,
          kind: 'rds-snapshot',
          status: 'available',
          sourceAccount: SOURCE,
          sourceRegion: REGION,
          sourceId: snapshot,
          sourceResourceId: db,
          sourceSnapshotId: snapshot,
          sourceCreatedAt: taken,
          pool: `rds-snapshot@${REGION}`,
        },
        new Date(taken),
      ),
    );
  }
  const deps = {
    settings,
    discovery,
    inventory,
    records: new MemoryAuditRecords(),
    alerts: new MemoryAlerts(),
    log: silentLog,
    sources: listedSources([{ account: SOURCE, regions: [REGION] }]),
  };
  return createAuditHandler(deps, undefined, { now: () => now });
}

/**
 * A pruner over `n` EBS snapshot copies past their 35 days and the newest
 * copy of the same volume, which stays: one daily run deletes the `n`, so
 * its "message" is one copy expired.
 */
async function prunerOf(n: number) {
  const clock = new ManualClock('2026-06-01T00:00:00.000Z');
  const inventory = new MemoryInventory();
  const copies = new MemoryCopies();
  const taken = (days: number) => new Date(clock.now().getTime() - days * 86_400_000).toISOString();
  const copyOf = (id: string, takenAt: string): InventoryRecord => ({
    ...newRecord(
      {
        artifactId: `ebs-snapshot:${SOURCE}:${REGION}:${id}`,
        kind: 'ebs-snapshot',
        status: 'available',
        sourceAccount: SOURCE,
        sourceRegion: REGION,
        sourceId: id,
        sourceResourceId: 'vol-orders',
        sourceCreatedAt: takenAt,
        targetName: `bunker-${id}`,
        targetId: `copy-${id}`,
        targetRegion: REGION,
      },
      new Date(takenAt),
    ),
    completedAt: takenAt,
  });
  const records = [...idsOf('snap-old', n).map((id) => copyOf(id, taken(100))), copyOf('snap-new', taken(1))];
  for (const record of records) {
    await inventory.create(record);
    copies.add({
      kind: 'ebs-snapshot',
      targetId: record.targetId as string,
      region: REGION,
      tags: { 'bunker:managed-by': 'bunker', 'bunker:kind': 'ebs-snapshot', 'bunker:source-account': SOURCE },
    });
  }
  return createPrunerHandler({
    policies: { copies: { 'ebs-snapshot': { retentionDays: 35, minCopies: 1 } }, values: {} },
    inventory,
    readers: copies.readers(),
    deleters: copies.deleters(),
    clock,
    log: silentLog,
  });
}

/** Parameters in the pulled source; one of them changes before each job. */
const PULL_PARAMETERS = 10;

/**
 * A pull function over an in-memory SSM source of {@link PULL_PARAMETERS}
 * tagged parameters, already pulled once; each call changes one parameter
 * (outside the handler, on the source) and delivers one job message.
 */
async function pullerOf() {
  const clock = new ManualClock('2026-03-01T00:00:00.000Z');
  const ssm = new MemorySsm(clock, SOURCE, REGION);
  const names = idsOf('/app/orders/secret', PULL_PARAMETERS);
  for (const name of names) ssm.put(name, `${name}-value-0`, { type: 'SecureString', tags: { backup: 'bunker' } });
  const store = new MemoryVaultStore();
  const records = new MemoryPulledInventory();
  const fingerprint = hmacFingerprint(new Uint8Array(32).fill(7));
  const pull: PullSettings = { ssm: { scope: { tag: { key: 'backup', value: 'bunker' } }, paths: ['/app/'] } };
  const settings: PullHandlerSettings = {
    prefix: 'bunker',
    partition: 'aws',
    backupAccount: BACKUP,
    backupRegion: REGION,
    inventoryTable: 'bunker-inventory',
    pullScopeIndex: 'by-pull-scope',
    vaultBucket: 'bunker-vault',
    backupKeyArn: `arn:aws:kms:${REGION}:${BACKUP}:key/backup-data`,
    pullQueueUrl: `https://sqs.${REGION}.amazonaws.com/${BACKUP}/bunker-pull`,
    sources: [{ account: SOURCE, regions: [REGION] }],
    pull,
  };
  const handler = createPullHandler({
    settings,
    log: silentLog,
    continueLater: () => Promise.reject(new Error('a pull of ten parameters never continues')),
    run: (job, _settings, deps) =>
      runPull(
        {
          job,
          store,
          records,
          fingerprint,
          clock,
          log: deps.log,
          deadline: deps.deadline,
          continueLater: deps.continueLater,
        },
        pull,
        { ssm },
      ),
  });
  const body = JSON.stringify({ kind: 'ssm', account: SOURCE, region: REGION });
  const deliver = async (changed: number) => {
    const response = await handler(sqsEvent([body], 'bunker-pull'));
    const run = await records.getRun('ssm', SOURCE, REGION);
    if (response.batchItemFailures.length > 0 || run?.summary.changed !== changed) {
      throw new Error(`pull: ${JSON.stringify({ response, summary: run?.summary })}`);
    }
  };
  // The first pull stores every parameter; from then on each job finds one changed.
  await deliver(PULL_PARAMETERS);
  let round = 0;
  return async () => {
    round += 1;
    clock.advance(3_600_000);
    const name = names[round % names.length];
    ssm.put(name, `${name}-value-${round}`, { overwrite: true });
    await deliver(1);
  };
}

/** Messages per measured run: the agent's count is of snapshots, each two events. */
async function main(handler: string, messages: number) {
  if (!(DRIVEN_HANDLERS as readonly string[]).includes(handler)) throw new Error(`no driver for ${handler}`);
  const name = handler as DrivenHandler;
  const perMessage = name === 'source-agent' ? 2 : 1;
  const cpu = await measure(drivers[name], messages);
  process.stdout.write(`${JSON.stringify({ handler, messages: messages * perMessage, cpuMs: cpu })}\n`);
}

// Run as a script (the bundled driver), not when bench/bundles.ts imports the handler list.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv[2] ?? '', Number(process.argv[3] ?? '200')).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
