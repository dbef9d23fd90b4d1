/**
 * The Lambda artifacts themselves, not the TypeScript sources. Each handler
 * is bundled as BunkerFunction bundles it (ESM `index.mjs`, minified, the
 * AWS SDK inside, the require() banner), loaded by Node's own loader from a
 * directory outside the repository, and its exported `handler` is invoked
 * against the emulator the way Lambda invokes it: settings only from
 * environment variables, validated at the first invocation; credentials
 * from the SDK's default chain (the role session Lambda exports); the
 * emulator only through `AWS_ENDPOINT_URL`.
 *
 * Beyond the factory-level tests (which call `createIntakeHandler` and
 * friends with hand-wired dependencies), this proves: the bundles load and
 * need nothing outside themselves; the module-scope wiring of each
 * `handler` builds working clients from the environment alone (Region,
 * default credential chain, and the STS client that `fromTemporaryCredentials`
 * makes inside the reader); the stacks' settings variables round-trip
 * through `*SettingsToEnv` and the bundled zod validation; and a bad
 * variable stops a cold start with an error naming it.
 */
import { createHash } from 'node:crypto';
import { isBuiltin } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { App, Stack } from 'aws-cdk-lib';
import { DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assumeLocalRole } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { kmsKeyIdOf } from '../../lambdas/core/keys';
import { INTERMEDIATE_PREFIX, intermediateSnapshotId, sourceNames, vaultNames } from '../../lambdas/core/names';
import type { CompletionOutcome, SweepSummary } from '../../lambdas/core/pipeline/completion';
import type { AgentSweepSummary } from '../../lambdas/core/rds-source-agent';
import { pullSettingsToEnv, sourceSettingsToEnv, vaultSettingsToEnv } from '../../lambdas/core/settings';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import { artifactId } from '../../lambdas/kinds/registry';
import { pullHandlerSettings, sourceSettings, vaultSettings } from '../../lib/config/runtime';
import { BunkerFunction, REPO_ROOT } from '../../lib/constructs/bunker-function';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createDatabase,
  createKey,
  createSnapshot,
  describeSnapshot,
  inventory,
  REGION,
  realVaultDeps,
  TestClients,
} from '../emulator/support/bunker';
import {
  BUNDLE_FILE,
  BUNKER_HANDLERS,
  type BuiltBundle,
  bundleHandlers,
  coldStart,
  eventBridgeEvent,
  invokeCold,
  lambdaContext,
  lambdaEnvironment,
  sqsEventOf,
  withEnvironment,
} from './support/bundle';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

let root: string;
let bundles: Map<string, BuiltBundle>;
const bundle = (name: (typeof BUNKER_HANDLERS)[number]) => {
  const built = bundles.get(name);
  if (!built) throw new Error(`${name} was not bundled`);
  return built.file;
};

beforeAll(async () => {
  // Outside the repository: no node_modules to fall back on, as in /var/task.
  root = mkdtempSync(join(tmpdir(), 'bunker-bundles-'));
  expect(root.startsWith(REPO_ROOT)).toBe(false);
  bundles = await bundleHandlers(root);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the handler bundles', () => {
  it('bundles byte for byte what BunkerFunction bundles (the mirrored esbuild options have not drifted)', () => {
    const outdir = join(root, 'cdk.out');
    const stack = new Stack(new App({ outdir }), 'BundleCheck', { env: { account: '111111111111', region: REGION } });
    // Construction bundles the asset through NodejsFunction's own esbuild invocation.
    new BunkerFunction(stack, 'Agent', { handler: 'source-agent', description: 'bundle check' });
    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    const fromConstruct = join(outdir, assets[0], BUNDLE_FILE);
    expect(
      sha256(bundle('source-agent')),
      'test/infra/support/bundle.ts bunkerEsbuildOptions must mirror BunkerFunction bundling',
    ).toBe(sha256(fromConstruct));
  });

  it('contain every dependency, the AWS SDK included: they import nothing but Node.js built-ins', () => {
    for (const name of BUNKER_HANDLERS) {
      const built = bundles.get(name);
      expect(built?.warnings, name).toBe(0);
      expect(built?.imports.filter((specifier) => !isBuiltin(specifier)) ?? ['missing'], name).toEqual([]);
      // The SDK is inside: its user agent marker is in the artifact.
      expect(readFileSync(bundle(name), 'utf8'), name).toContain('aws-sdk-js');
    }
  });

  it('load as native ES modules from outside the repository, exporting a handler, without reading settings', async () => {
    for (const name of BUNKER_HANDLERS) {
      // An empty environment: loading must not validate settings or call AWS.
      const handler = await withEnvironment({}, () => coldStart(bundle(name)));
      expect(typeof handler, name).toBe('function');
    }
  });
});

describe('a bundle started with a bad environment variable', () => {
  const config = bunkerConfig(freshAccountId(), [freshAccountId()]);
  const keyArn = `arn:aws:kms:${REGION}:${config.backup.account}:key/00000000-0000-4000-8000-000000000000`;
  const vaultEnv = vaultSettingsToEnv(vaultSettings(config, keyArn));
  const sourceEnv = sourceSettingsToEnv(
    sourceSettings(
      config,
      config.sources[0].account,
      REGION,
      keyArn.replace(config.backup.account, config.sources[0].account),
    ),
  );

  const EMPTY_BATCH = { Records: [] };
  const without = (vars: Record<string, string>, name: string) =>
    Object.fromEntries(Object.entries(vars).filter(([key]) => key !== name));

  /** The error of a cold start's first invocation; the import itself must succeed. */
  async function firstInvocationError(file: string, env: Record<string, string>, event: unknown): Promise<Error> {
    const handler = await withEnvironment(env, () => coldStart(file));
    try {
      await withEnvironment(env, () => handler(event, lambdaContext('bad-environment', REGION)));
    } catch (error) {
      return error as Error;
    }
    throw new Error(`${file} accepted its environment`);
  }

  it.each(['intake', 'completion', 'sweep'] as const)(
    '%s fails its first invocation with an error naming the missing BUNKER_BACKUP_KEY_ARN, and only it',
    async (name) => {
      const error = await firstInvocationError(bundle(name), without(vaultEnv, 'BUNKER_BACKUP_KEY_ARN'), EMPTY_BATCH);
      expect(error.message).toMatch(/^invalid vault settings: BUNKER_BACKUP_KEY_ARN: /);
      expect(error.message).not.toMatch(/BUNKER_(PREFIX|BACKUP_ACCOUNT|INVENTORY_TABLE|SOURCES|KINDS|PARTITION)/);
    },
  );

  it('intake fails with an error naming BUNKER_SOURCES when it is not JSON', async () => {
    const error = await firstInvocationError(
      bundle('intake'),
      { ...vaultEnv, BUNKER_SOURCES: '[{"account":' },
      EMPTY_BATCH,
    );
    expect(error.message).toBe('invalid vault settings: BUNKER_SOURCES: expected JSON');
  });

  it('source-agent fails with an error naming a malformed BUNKER_SCOPES', async () => {
    const error = await firstInvocationError(
      bundle('source-agent'),
      { ...sourceEnv, BUNKER_SCOPES: JSON.stringify({ 'rds-snapshot': { tag: { key: '' } } }) },
      eventBridgeEvent('Scheduled Event', 'aws.events', config.sources[0].account, REGION, {}),
    );
    expect(error.message).toMatch(/^invalid source agent settings: BUNKER_SCOPES/);
    expect(error.message).not.toMatch(/BUNKER_(PREFIX|SHARE_KEY_ARN|INTAKE_TOPIC_ARN|SOURCE_ACCOUNT)/);
  });

  it('pull fails with an error naming the missing BUNKER_VAULT_BUCKET, and only it', async () => {
    const pullEnv = pullSettingsToEnv(
      pullHandlerSettings(
        bunkerConfig(config.backup.account, [config.sources[0].account], { artifacts: { ssm: { enabled: true } } }),
        keyArn,
        `http://127.0.0.1/${config.backup.account}/bunker-pull`,
      ),
    );
    const error = await firstInvocationError(bundle('pull'), without(pullEnv, 'BUNKER_VAULT_BUCKET'), EMPTY_BATCH);
    expect(error.message).toMatch(/^invalid pull settings: BUNKER_VAULT_BUCKET: /);
    expect(error.message).not.toMatch(/BUNKER_(PREFIX|BACKUP_ACCOUNT|INVENTORY_TABLE|SOURCES|PULL_QUEUE_URL|PULL:)/);
    expect(error.name).toBe('SettingsError');
  });

  it('reports its error as a SettingsError, the errorType Lambda logs and alarms see', async () => {
    const error = await firstInvocationError(bundle('sweep'), without(vaultEnv, 'BUNKER_PREFIX'), {});
    expect(error.message).toMatch(/BUNKER_PREFIX/);
    expect(error.name).toBe('SettingsError');
  });
});

describe('the four bundles, run as Lambda runs them, back up snapshots end to end', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  // One copy slot: while the staged copy below is in progress, intake must defer
  // everything else, so the completion event and the sweep each have real work.
  const config = bunkerConfig(backup, [source], { limits: { rdsCopiesInProgress: 1 } });
  const vault = vaultNames(config.name);
  const sqs = new SQSClient(clientConfig(endpoint, backup));
  /** Settled by the completion bundle's RDS event. */
  const IN_PROGRESS = 'orders-before-release';
  /** Deferred by the intake bundle, then copied by the sweep bundle. */
  const WAITING = 'orders-nightly';

  let env: LocalEnvironment;
  let vaultSettingsEnv: Record<string, string>;
  /** Intermediate snapshot id by production snapshot id. */
  const intermediateIds = new Map<string, string>();
  let agentSummary: AgentSweepSummary;
  /** What the agent did on RDS's "copy finished" event (RDS-EVENT-0197) of each intermediate its sweep started. */
  const agentSteps: string[] = [];
  let received: Message[];
  let intakeResponse: SQSBatchResponse;
  let afterIntake: InventoryRecord[];
  let completionOutcome: CompletionOutcome;
  const chained: CompletionOutcome[] = [];
  const refilled: number[] = [];
  let sweepSummary: SweepSummary;

  /** The snapshot id a notification names, read from inside SNS's envelope. */
  const idIn = (message: Message) => {
    const envelope = JSON.parse(message.Body ?? '{}') as { Message?: string };
    return (JSON.parse(envelope.Message ?? '{}') as { id?: string }).id;
  };
  const artifactOf = (snapshotId: string) =>
    artifactId({
      kind: 'rds-snapshot',
      partition: 'aws',
      account: source,
      region: REGION,
      id: intermediateIds.get(snapshotId) ?? 'unknown',
    });
  const recordOf = (records: readonly InventoryRecord[], snapshotId: string) =>
    records.find((r) => r.artifactId === artifactOf(snapshotId));

  /** The environment of one function, with its own execution role's session. */
  async function functionEnv(handler: string, settings: Record<string, string>, account: string, role: string) {
    return lambdaEnvironment({
      settings,
      serviceName: `${config.name}-${handler}`,
      credentials: await assumeLocalRole(endpoint, account, role),
      region: REGION,
      endpoint,
    });
  }

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    vaultSettingsEnv = vaultSettingsToEnv(vaultSettings(config, env.backupKeyArn));
    const sourceRds = aws.rds(source);
    await createDatabase(sourceRds, { id: 'orders', inScope: true, kmsKeyId: await createKey(aws.kms(source)) });
    for (const id of [IN_PROGRESS, WAITING]) await createSnapshot(sourceRds, 'orders', id);

    // 1. The source agent's hourly schedule.
    const [localSource] = env.sources;
    agentSummary = (await invokeCold(
      bundle('source-agent'),
      await functionEnv(
        'source-agent',
        sourceSettingsToEnv(sourceSettings(config, source, REGION, localSource.shareKeyArn)),
        source,
        sourceNames(config.name, REGION).agentRole,
      ),
      eventBridgeEvent('Scheduled Event', 'aws.events', source, REGION, {}, [
        `arn:aws:events:${REGION}:${source}:rule/${config.name}-rds-agent-sweep`,
      ]),
      `${config.name}-source-agent-${REGION}`,
    )) as AgentSweepSummary;
    for (const id of [IN_PROGRESS, WAITING]) {
      intermediateIds.set(
        id,
        (await describeSnapshot(sourceRds, intermediateSnapshotId(id))).DBSnapshotIdentifier ?? '',
      );
    }
    // 1b. RDS says each re-keyed intermediate copy finished (RDS-EVENT-0197): the agent shares and announces it
    // then, not in the sweep that started the copy.
    const { DBSnapshots } = await sourceRds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }));
    const intermediates = (DBSnapshots ?? [])
      .map((snapshot) => snapshot.DBSnapshotIdentifier ?? '')
      .filter((id) => id.startsWith(`${INTERMEDIATE_PREFIX}-`));
    const agentEnv = await functionEnv(
      'source-agent',
      sourceSettingsToEnv(sourceSettings(config, source, REGION, localSource.shareKeyArn)),
      source,
      sourceNames(config.name, REGION).agentRole,
    );
    for (const id of intermediates) {
      const arn = `arn:aws:rds:${REGION}:${source}:snapshot:${id}`;
      const outcome = (await invokeCold(
        bundle('source-agent'),
        agentEnv,
        eventBridgeEvent(
          'RDS DB Snapshot Event',
          'aws.rds',
          source,
          REGION,
          {
            EventCategories: ['notification'],
            SourceType: 'SNAPSHOT',
            SourceArn: arn,
            Date: new Date().toISOString(),
            Message: `Finished copy of snapshot ${id}`,
            SourceIdentifier: id,
            EventID: 'RDS-EVENT-0197',
          },
          [arn],
        ),
        `${config.name}-source-agent-${REGION}`,
      )) as { step: string };
      agentSteps.push(outcome.step);
    }

    // 2. The intake queue, read as the event source mapping reads it, with the backup account's credentials.
    const queueArn =
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: env.queueUrl, AttributeNames: ['QueueArn'] })))
        .Attributes?.QueueArn ?? '';
    const byId = new Map<string, Message>();
    const announced = agentSteps.filter((step) => step === 'notified').length;
    for (let attempt = 0; attempt < 10 && byId.size < announced; attempt++) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: env.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      for (const message of Messages ?? []) byId.set(message.MessageId ?? '', message);
    }
    received = [...byId.values()];
    if (received.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: env.queueUrl,
          Entries: received.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }

    // Staging, not under test: on the emulator an RDS copy is available at once, so a
    // copy "in progress" as in AWS is made by the source-level intake with the copy
    // reported as still creating. It holds the one copy slot.
    const staged = received.filter((m) => idIn(m) === intermediateIds.get(IN_PROGRESS));
    const deps = await realVaultDeps(config, env, endpoint);
    const rds = deps.copiers['rds-snapshot'];
    const stagedResponse = await createIntakeHandler({
      ...deps,
      copiers: {
        ...deps.copiers,
        'rds-snapshot': {
          kind: 'rds-snapshot',
          describeSource: (ref) => rds.describeSource(ref),
          listShared: (region, accounts) => rds.listShared(region, accounts),
          copy: (request) => rds.copy(request),
          resourceScopeTags: (view) => rds.resourceScopeTags?.(view) ?? Promise.resolve(view.scopeTags),
          describeCopy: async (location) => {
            const copy = await rds.describeCopy(location);
            return copy && { ...copy, state: 'pending', detail: 'creating' };
          },
        },
      },
    })(sqsEventOf(staged, queueArn, REGION));
    if (staged.length !== 1 || stagedResponse.batchItemFailures.length > 0) {
      throw new Error(
        `staging the copy in progress failed: ${staged.length} message(s), ${JSON.stringify(stagedResponse)}`,
      );
    }

    // 3. The intake bundle with the rest of the batch.
    intakeResponse = (await invokeCold(
      bundle('intake'),
      await functionEnv('intake', vaultSettingsEnv, backup, vault.intakeRole),
      sqsEventOf(
        received.filter((m) => !staged.includes(m)),
        queueArn,
        REGION,
      ),
      `${config.name}-intake`,
    )) as SQSBatchResponse;
    afterIntake = await inventory(config, endpoint);

    // 4. RDS's "copy finished" event for the copy in progress, then, as AWS would, for each copy the completion
    // bundle started in the slot it freed (the emulator's copies finish at once; its RDS sends no events), then
    // the vault's schedule.
    const finished = async (targetId: string, sourceId: string) =>
      (await invokeCold(
        bundle('completion'),
        await functionEnv('completion', vaultSettingsEnv, backup, vault.completionRole),
        eventBridgeEvent(
          'RDS DB Snapshot Event',
          'aws.rds',
          backup,
          REGION,
          {
            EventCategories: ['notification'],
            SourceType: 'SNAPSHOT',
            SourceArn: `arn:aws:rds:${REGION}:${backup}:snapshot:${targetId}`,
            Date: new Date().toISOString(),
            Message: `Finished copy of snapshot ${sourceId}`,
            SourceIdentifier: targetId,
            EventID: 'RDS-EVENT-0197',
          },
          [`arn:aws:rds:${REGION}:${backup}:snapshot:${targetId}`],
        ),
        `${config.name}-completion`,
      )) as CompletionOutcome;
    // An RDS copy's id is its name: the record may carry only the name until the copy is read back.
    const copyId = (record: InventoryRecord | undefined) => record?.targetId ?? record?.targetName ?? 'no-record';
    completionOutcome = await finished(
      copyId(recordOf(afterIntake, IN_PROGRESS)),
      intermediateIds.get(IN_PROGRESS) ?? '',
    );
    for (let round = 0; round < 3; round++) {
      const started = (await inventory(config, endpoint)).filter((r) => r.status === 'copying');
      if (started.length === 0) break;
      // One slot: the completion bundle never has more than one copy in flight.
      refilled.push(started.length);
      for (const record of started) chained.push(await finished(copyId(record), record.sourceId ?? ''));
    }
    sweepSummary = (await invokeCold(
      bundle('sweep'),
      await functionEnv('sweep', vaultSettingsEnv, backup, vault.sweepRole),
      eventBridgeEvent('Scheduled Event', 'aws.events', backup, REGION, {}),
      `${config.name}-sweep`,
    )) as SweepSummary;
  });

  afterAll(() => {
    aws.destroy();
    sqs.destroy();
  });

  it('the agent bundle shares and announces every in-scope snapshot, and each announcement reaches the intake queue', () => {
    // Both manual snapshots, and the automated one the emulator takes at creation: re-keyed by the sweep, then
    // shared and announced when RDS says each copy finished.
    expect(agentSummary.steps).toEqual({ rekeying: 3 });
    expect(agentSteps).toEqual(['notified', 'notified', 'notified']);
    expect(received).toHaveLength(3);
    expect(received.map(idIn)).toEqual(expect.arrayContaining([...intermediateIds.values()]));
  });

  it('the intake bundle accepts the whole batch through the reader role and defers it while the copy slot is taken', () => {
    expect(intakeResponse).toEqual({ batchItemFailures: [] });
    // Records exist only for snapshots the reader role (fromTemporaryCredentials'
    // own STS client, reached through AWS_ENDPOINT_URL) proved shared and available.
    const deferred = afterIntake.filter((r) => r.status === 'expected');
    expect(deferred).toHaveLength(2);
    expect(deferred.map((r) => r.reason)).toEqual([
      `waiting for copy capacity: 1 RDS DB snapshot copies already in progress in ${REGION}`,
      `waiting for copy capacity: 1 RDS DB snapshot copies already in progress in ${REGION}`,
    ]);
    expect(recordOf(afterIntake, WAITING)?.status).toBe('expected');
    expect(recordOf(afterIntake, IN_PROGRESS)?.status).toBe('copying');
    expect(afterIntake).toHaveLength(3);
  });

  it('the completion bundle settles the copy its RDS-EVENT-0197 names', () => {
    expect(completionOutcome).toEqual({
      outcome: 'settled',
      artifactId: artifactOf(IN_PROGRESS),
      step: 'available',
    });
  });

  it('the sweep bundle finds nothing left: the completion bundle started each deferred copy as the slot freed', () => {
    // Each finished copy's event settled it and started the next waiting one, one at a time.
    expect(refilled).toEqual([1, 1]);
    expect(chained.map((outcome) => [outcome.outcome, (outcome as { step?: string }).step])).toEqual([
      ['settled', 'available'],
      ['settled', 'available'],
    ]);
    expect(sweepSummary).toEqual({
      checked: 0,
      available: 0,
      failed: 0,
      stillCopying: 0,
      started: 0,
      waiting: 0,
      receiptsResent: 0,
      takenIn: 0,
    });
  });

  it('leaves every copy available in the backup account under the backup key, as the inventory records it', async () => {
    const records = await inventory(config, endpoint);
    expect(records.map((r) => r.status)).toEqual(['available', 'available', 'available']);
    for (const record of records) {
      const copy = await describeSnapshot(aws.rds(backup), record.targetId ?? 'no-target');
      expect(copy.DBSnapshotArn).toBe(record.targetArn);
      expect(copy.DBSnapshotArn?.split(':')[4]).toBe(backup);
      expect(copy.Status).toBe('available');
      expect(copy.Encrypted).toBe(true);
      expect(kmsKeyIdOf(copy.KmsKeyId)).toBe(kmsKeyIdOf(env.backupKeyArn));
      expect(record.kmsKeyArn).toBe(env.backupKeyArn);
    }
    expect(recordOf(records, IN_PROGRESS)?.copyAttempts).toBe(1);
  });
});
