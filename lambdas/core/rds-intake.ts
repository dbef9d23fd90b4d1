/**
 * Intake: one message from the intake queue, from raw body to a claimed
 * copy or a logged rejection.
 *
 * Trust identifiers, not messages. In order: size, JSON and schema; the
 * sender is a registered account and Region; the ARN belongs to the sender;
 * then a Describe through the sender's reader role proves the snapshot
 * exists in the sender's account, is shared with the backup account and is
 * ready. Only the ARN from the message is used; everything else is re-read.
 */
import { RetryLaterError } from './errors';
import { type InventoryRecord, newRecord } from './inventory';
import { backupSnapshotId, parseRdsSnapshotArn, rdsArtifactId, rejectionId } from './names';
import { parseNotification } from './notification';
import type { RdsSnapshot, SourceSnapshotReader } from './ports';
import { TAG_INTERMEDIATE_OF, TAG_SOURCE_CREATED_AT } from './rds-source-agent';
import { type CopyStep, settleCopy, startCopy, type VaultDeps } from './rds-copy';

export interface IntakeDeps extends VaultDeps {
  readonly sourceReader: SourceSnapshotReader;
}

export type IntakeOutcome =
  | { readonly outcome: 'rejected'; readonly reason: string; readonly recordId: string }
  | { readonly outcome: 'accepted'; readonly artifactId: string; readonly step: CopyStep['step'] };

/** Thrown nowhere: a rejection is an outcome. Errors that escape are transient and the message is retried. */
export async function handleRdsNotification(body: string, deps: IntakeDeps): Promise<IntakeOutcome> {
  const parsed = parseNotification(body);
  if (!parsed.ok) return reject(deps, body, parsed.reason, parsed.sourceAccount);
  const { notification } = parsed;
  const claimed = notification.sourceAccount;

  const source = deps.settings.sources.find((s) => s.account === claimed);
  if (!source) return reject(deps, body, `account ${claimed} is not a registered source account`, claimed);
  if (!source.regions.includes(notification.sourceRegion)) {
    return reject(deps, body, `Region ${notification.sourceRegion} is not registered for account ${claimed}`, claimed);
  }
  const arn = parseRdsSnapshotArn(notification.snapshotArn);
  if (!arn || arn.account !== claimed) {
    return reject(
      deps,
      body,
      `snapshot ARN belongs to account ${arn?.account ?? '?'}, not to the sender ${claimed}`,
      claimed,
    );
  }
  if (arn.region !== notification.sourceRegion) {
    return reject(deps, body, `snapshot ARN is in Region ${arn.region}, not ${notification.sourceRegion}`, claimed);
  }

  const view = await deps.sourceReader.describe(claimed, arn.region, notification.snapshotArn);
  if (!view) return reject(deps, body, `snapshot ${arn.snapshotId} does not exist in account ${claimed}`, claimed);
  if (!view.sharedWith.includes(deps.settings.backupAccount)) {
    return reject(
      deps,
      body,
      `snapshot ${arn.snapshotId} is not shared with the backup account ${deps.settings.backupAccount}`,
      claimed,
    );
  }
  if (view.snapshot.status !== 'available') {
    throw new RetryLaterError(`snapshot ${arn.snapshotId} is ${view.snapshot.status}, not yet available`);
  }

  const artifactId = rdsArtifactId(notification.snapshotArn);
  let record = await deps.inventory.get(artifactId);
  if (!record) {
    const fresh = newRecord(
      {
        artifactId,
        kind: 'rds-snapshot',
        status: 'expected',
        reason: 'notification accepted; copy not started yet',
        sourceAccount: claimed,
        sourceRegion: arn.region,
        sourceArn: notification.snapshotArn,
        sourceResourceId: view.snapshot.dbInstanceId,
        sourceSnapshotId: view.snapshot.tags[TAG_INTERMEDIATE_OF] ?? arn.snapshotId,
        // The intermediate is a copy: record when production took the snapshot, not when it was re-keyed.
        sourceCreatedAt: productionTime(view.snapshot),
        engine: view.snapshot.engine,
        sizeGiB: view.snapshot.sizeGiB,
        targetId: backupSnapshotId(notification.snapshotArn),
      },
      deps.clock.now(),
    );
    record = (await deps.inventory.create(fresh)) ? fresh : await deps.inventory.get(artifactId);
    if (!record) throw new Error(`inventory record ${artifactId} vanished after a conflicting create`);
  }
  const step = await advance(deps, record);
  return { outcome: 'accepted', artifactId, step: step.step };
}

function productionTime(snapshot: RdsSnapshot): string | undefined {
  const tagged = snapshot.tags[TAG_SOURCE_CREATED_AT];
  return (
    (tagged && !Number.isNaN(Date.parse(tagged)) ? tagged : undefined) ??
    snapshot.originalCreatedAt ??
    snapshot.createdAt
  );
}

async function advance(deps: IntakeDeps, record: InventoryRecord): Promise<CopyStep> {
  switch (record.status) {
    case 'expected':
    case 'failed':
      return startCopy(deps, record);
    case 'copying':
      return settleCopy(deps, record);
    default:
      deps.log.info('duplicate notification; copy already recorded', {
        artifactId: record.artifactId,
        status: record.status,
      });
      return { step: 'unchanged', record };
  }
}

async function reject(deps: IntakeDeps, body: string, reason: string, claimedAccount?: string): Promise<IntakeOutcome> {
  const recordId = rejectionId(body);
  const created = await deps.inventory.create(
    newRecord(
      {
        artifactId: recordId,
        kind: claimedAccount ? 'rds-snapshot' : 'unknown',
        status: 'rejected',
        reason,
        // Claimed, not proven: a rejected message's sender is whatever it said.
        sourceAccount: claimedAccount,
        sourceArn: snapshotArnOf(body),
      },
      deps.clock.now(),
    ),
  );
  deps.log.warn('notification rejected', { reason, claimedAccount, recordId, repeated: !created });
  return { outcome: 'rejected', reason, recordId };
}

/** The snapshot ARN a rejected message named, if it is one, so operators can see what was refused. */
function snapshotArnOf(body: string): string | undefined {
  try {
    const arn = (JSON.parse(body) as { snapshotArn?: unknown } | null)?.snapshotArn;
    return typeof arn === 'string' && parseRdsSnapshotArn(arn) ? arn : undefined;
  } catch {
    return undefined;
  }
}
