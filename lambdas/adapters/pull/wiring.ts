/**
 * Wires the pull pipeline: the vault store and pulled records with the pull
 * function's own credentials, and each kind's source through the source
 * account's puller role. The pull handler calls {@link runPullJob} with the
 * function's context; the local mode calls {@link pullJobRunner} with the
 * emulator's endpoint and the pull role's credentials. Same adapters, same
 * core, either way.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { exportBucketName, pullerRoleArn } from '../../core/names';
import { type Clock, type Log, systemClock } from '../../core/ports';
import { pullTables } from '../../core/pull/dynamodb/pull';
import { loadFingerprint } from '../../core/pull/fingerprint';
import { runPull } from '../../core/pull/run';
import type { Fingerprint, PullContext, PullJob, PullRunSummary } from '../../core/pull/types';
import type { PullHandlerSettings } from '../../core/settings';
import { type AwsContext, clientConfig } from '../aws-context';
import { DynamoPulledInventory } from './dynamo-pulled';
import { S3VaultStore, vaultS3Client } from './s3-vault-store';
import { secretsSourceFor } from './secrets-source';
import { ssmSourceFor } from './ssm-source';
import { SdkTableSource } from './table-source';

export interface PullJobDeps {
  readonly log: Log;
  /** Epoch milliseconds by which the run must have saved its work. */
  readonly deadline: number;
  continueLater(job: PullJob, delaySeconds: number): Promise<void>;
}

/**
 * A runner of pull jobs for one vault: the store, the records and the
 * fingerprint key are made once and reused by every job of a warm
 * container; the puller's credentials are per source account.
 */
export function pullJobRunner(
  settings: PullHandlerSettings,
  vault: AwsContext,
  clock: Clock = systemClock,
): (job: PullJob, deps: PullJobDeps) => Promise<PullRunSummary> {
  const store = new S3VaultStore(vaultS3Client(vault), settings.vaultBucket, settings.backupKeyArn);
  const records = new DynamoPulledInventory(
    new DynamoDBClient(clientConfig(vault)),
    settings.inventoryTable,
    settings.pullScopeIndex,
  );
  let fingerprint: Promise<Fingerprint> | undefined;
  const puller = (account: string, region: string): AwsContext => ({
    region,
    ...(vault.endpoint ? { endpoint: vault.endpoint } : {}),
    credentials: fromTemporaryCredentials({
      params: { RoleArn: pullerRoleArn(settings.prefix, account, settings.partition), RoleSessionName: 'bunker-pull' },
      ...(vault.credentials ? { masterCredentials: vault.credentials } : {}),
      clientConfig: clientConfig(vault),
    }),
  });
  return async (job, deps) => {
    fingerprint ??= loadFingerprint(store).catch((error: unknown) => {
      fingerprint = undefined;
      throw error;
    });
    const ctx: PullContext = {
      job,
      store,
      records,
      fingerprint: await fingerprint,
      clock,
      log: deps.log,
      deadline: deps.deadline,
      continueLater: deps.continueLater,
    };
    const source = puller(job.account, job.region);
    return runPull(ctx, settings.pull, {
      ...(job.kind === 'ssm' ? { ssm: ssmSourceFor(source) } : {}),
      ...(job.kind === 'secrets' ? { secrets: secretsSourceFor(source) } : {}),
      ...(job.kind === 'dynamodb' && settings.pull.dynamodb
        ? {
            dynamodb: (pullCtx: PullContext) =>
              pullTables(
                pullCtx,
                settings.pull.dynamodb as NonNullable<typeof settings.pull.dynamodb>,
                new SdkTableSource(source, exportBucketName(settings.prefix, job.account, job.region), job.account),
              ),
          }
        : {}),
    });
  };
}

/** SQS takes at most ten messages per SendMessageBatch. */
export const SEND_BATCH_SIZE = 10;

/**
 * Queues a fan-out's jobs on the pull queue, ten per SendMessageBatch. An
 * entry SQS refused fails the whole fan-out, so SQS delivers it again: the
 * jobs already queued are then queued twice, which costs a second pull that
 * finds nothing changed (see `core/pull/fan-out.ts`), never a lost one.
 */
export async function queuePullJobs(sqs: SQSClient, queueUrl: string, jobs: readonly PullJob[]): Promise<void> {
  for (let start = 0; start < jobs.length; start += SEND_BATCH_SIZE) {
    const batch = jobs.slice(start, start + SEND_BATCH_SIZE);
    const { Failed } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((job, index) => ({ Id: String(start + index), MessageBody: JSON.stringify(job) })),
      }),
    );
    if (Failed && Failed.length > 0) {
      const codes = [...new Set(Failed.map((failure) => failure.Code ?? 'unknown'))];
      throw new Error(`the pull queue refused ${Failed.length} of ${batch.length} job(s): ${codes.join(', ')}`);
    }
  }
}

let runner: ReturnType<typeof pullJobRunner> | undefined;

/** The pull handler's entry: the function's own credentials, in the backup Region. */
export function runPullJob(job: PullJob, settings: PullHandlerSettings, deps: PullJobDeps): Promise<PullRunSummary> {
  runner ??= pullJobRunner(settings, { region: settings.backupRegion });
  return runner(job, deps);
}
