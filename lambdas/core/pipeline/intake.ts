/**
 * Intake: one delivery from the intake queue, from the body as delivered to
 * a claimed copy or a logged rejection, for every kind.
 *
 * Trust identifiers, not messages. In order: the delivery is an SNS
 * envelope of this vault's intake topic of a registered source account (the
 * transport says who sent it); the notification's size, JSON and schema;
 * its account is that one and its Region registered; the kind is enabled;
 * then a Describe through that account's reader role proves the artifact
 * exists, is owned by that account, is shared with the backup account (an
 * AMI's backing snapshots too), is in the configured scope, and is ready.
 */
import { artifactId, KINDS, poolOf } from '../../kinds/registry';
import type { ArtifactCopier, ArtifactRef, SourceView } from '../../kinds/types';
import { carriesScope } from '../agent/carried-scope';
import { listedSources } from '../enrolment/registry';
import { RetryLaterError } from '../errors';
import { type InventoryRecord, newRecord } from '../inventory';
import { rejectionId, sourceAccountOfTopic } from '../names';
import { parseDelivery, parseNotification } from '../notification';
import type { SourceRegistry } from '../ports';
import { describeScope, inScope } from '../scope';
import type { ScopeSetting } from '../settings';
import { safeText } from '../text';
import { recordBacklog } from './backlog';
import { type CopyStep, startCopy, startNewCopy, type VaultDeps } from './copy';
import { lookAtOverdue, lookAtPool, refillAfter, settleAndRefill } from './schedule';

/** `registry`: who may send (listed and enrolled accounts); the listed sources when absent. */
export type IntakeDeps = VaultDeps & { readonly registry?: SourceRegistry };

export type IntakeOutcome =
  | { readonly outcome: 'rejected'; readonly reason: string; readonly recordId: string }
  | { readonly outcome: 'accepted'; readonly artifactId: string; readonly step: CopyStep['step'] };

/** How long a rejection stays in the inventory before DynamoDB's TTL removes it. */
export const REJECTION_TTL_DAYS = 30;

/** Thrown nowhere: a rejection is an outcome. Errors that escape are transient and the message is retried. */
export async function handleDelivery(body: string, deps: IntakeDeps): Promise<IntakeOutcome> {
  const delivery = parseDelivery(body);
  if (!delivery.ok) return reject(deps, body, delivery.reason);
  const { prefix, backupAccount, backupRegion } = deps.settings;
  const account = sourceAccountOfTopic(prefix, backupAccount, backupRegion, delivery.topicArn);
  const source = account ? await (deps.registry ?? listedSources(deps.settings.sources)).source(account) : undefined;
  if (!account || !source) {
    return reject(
      deps,
      body,
      `delivered through ${safeText(delivery.topicArn, 160)}, not the intake topic of a registered source account`,
    );
  }
  const parsed = parseNotification(delivery.message);
  if (!parsed.ok) return reject(deps, body, parsed.reason, account);
  const { subject } = parsed;
  if (subject.sourceAccount !== account) {
    return reject(
      deps,
      body,
      `names account ${subject.sourceAccount} but was published on the intake topic of account ${account}`,
      account,
    );
  }
  if (!source.regions.includes(subject.sourceRegion)) {
    return reject(deps, body, `Region ${subject.sourceRegion} is not registered for account ${account}`, account);
  }
  if (subject.arn && (subject.arn.account !== account || subject.arn.region !== subject.sourceRegion)) {
    return reject(
      deps,
      body,
      `snapshot ARN is in account ${subject.arn.account} and Region ${subject.arn.region}, not ${account} and ${subject.sourceRegion}`,
      account,
    );
  }
  const kind = KINDS[subject.kind];
  const kindSettings = deps.settings.kinds[subject.kind];
  if (!kindSettings.enabled) return reject(deps, body, `${kind.label}s are not enabled in this vault`, account);

  const ref: ArtifactRef = {
    kind: subject.kind,
    partition: subject.arn?.partition ?? deps.settings.partition,
    account,
    region: subject.sourceRegion,
    id: subject.id,
  };
  const view = await deps.copiers[subject.kind].describeSource(ref);
  const problem = view
    ? await sourceProblem(deps, view)
    : `${kind.label} ${ref.id} does not exist in account ${account}`;
  if (problem || !view) return reject(deps, body, problem ?? 'not found', account);
  if (view.state === 'pending')
    throw new RetryLaterError(`${kind.label} ${ref.id} is ${view.detail}, not yet available`);

  const { step } = await admit(deps, ref, view, 'notification accepted; copy not started yet');
  // Only for an artifact the Describe proved: a backlog is the sender's word, an order hint for the scheduler.
  if (deps.backlogs && subject.sourceBacklog !== undefined) await recordBacklog(deps, ref, subject.sourceBacklog);
  return { outcome: 'accepted', artifactId: artifactId(ref), step: step.step };
}

/** What {@link admit} did: whether it made the record, and the copy step that followed. */
export interface Admitted {
  readonly created: boolean;
  readonly step: CopyStep;
}

/**
 * Takes in an artifact that passed {@link sourceProblem} and is ready:
 * creates its `expected` record (`reason` says how it came in) unless one
 * exists, then moves the record on as its status says. Shared by intake and
 * the sweep's take-in of what was shared but never announced, so both
 * record and start copies the same way; a conditional create keeps the two
 * from making two records when they meet.
 */
export async function admit(deps: IntakeDeps, ref: ArtifactRef, view: SourceView, reason: string): Promise<Admitted> {
  const kind = KINDS[ref.kind];
  const id = artifactId(ref);
  const fresh = newRecord(
    {
      artifactId: id,
      kind: ref.kind,
      status: 'expected',
      reason,
      sourceAccount: ref.account,
      sourceRegion: ref.region,
      sourceId: ref.id,
      sourceArn: view.arn,
      sourceResourceId: view.resourceId,
      sourceSnapshotId: view.productionId ?? ref.id,
      sourceCreatedAt: view.producedAt,
      engine: view.engine,
      sizeGiB: view.sizeGiB,
      targetName: kind.targetName(ref, 0),
      targetRegion: deps.settings.backupRegion,
      pool: poolOf(ref.kind, deps.settings.backupRegion),
    },
    deps.clock.now(),
  );
  // A new artifact is claimed as it is recorded (one write); a known one is read and moved on.
  const started = await startNewCopy(deps, fresh);
  if (started) {
    await refillAfter(deps, fresh, started);
    // No slot: the pool is full, and one of its copies may be done with its event lost.
    if (deps.ring && started.step === 'deferred' && started.wait === 'slot') {
      await lookAtPool(deps, fresh.pool as string);
      await lookAtOverdue(deps, fresh.pool as string);
    }
    return { created: true, step: started };
  }
  const record = await deps.inventory.get(id);
  if (!record) throw new Error(`inventory record ${id} vanished after a conflicting create`);
  return { created: false, step: await advance(deps, record) };
}

/**
 * Why the vault will not copy what the reader role sees; `undefined` when
 * it may. Scope is judged last of the checks that refuse for good, so an
 * artifact refused on cheaper grounds never costs a read of its resource.
 */
export async function sourceProblem(
  deps: Pick<IntakeDeps, 'settings' | 'copiers'>,
  view: SourceView,
): Promise<string | undefined> {
  const { ref } = view;
  const kind = KINDS[ref.kind];
  const backup = deps.settings.backupAccount;
  if (view.ownerAccount !== ref.account) {
    return `${kind.label} ${ref.id} is owned by account ${view.ownerAccount}, not by the sender ${ref.account}`;
  }
  if (!view.sharedWith.includes(backup))
    return `${kind.label} ${ref.id} is not shared with the backup account ${backup}`;
  const unshared = (view.children ?? []).filter((child) => !(child.sharedWith ?? []).includes(backup));
  if (unshared.length > 0) {
    return `${kind.label} ${ref.id} has backing snapshots not shared with the backup account: ${unshared.map((c) => c.id).join(', ')}`;
  }
  if (!view.encrypted) return `${kind.label} ${ref.id} is not encrypted: the source agent re-keys before sharing`;
  const scope = deps.settings.kinds[ref.kind].scope;
  if (!(await holdsScope(scope, view, deps.copiers[ref.kind]))) {
    const what = view.resourceId ? `${kind.resourceLabel} ${view.resourceId}` : `${kind.label} ${ref.id}`;
    return `${what} is out of scope: it does not match ${describeScope(scope)}`;
  }
  if (view.state === 'failed') return `${kind.label} ${ref.id} is ${safeText(view.detail, 40)} in the source account`;
  return undefined;
}

/**
 * The vault's own scope decision. An ids scope is judged on the describe's
 * identifiers alone, no tags read. A tag scope is settled, with no request,
 * by the tag the source agent carried onto its intermediate from the
 * resource's tags when it names exactly this scope (`carriesScope`): the
 * same account wrote both, so the resource's tags would tell the vault
 * nothing the carried tag does not. Otherwise (nothing carried: an agent
 * with another scope, a deleted resource, an artifact shared by hand; or
 * another key or value) the resource's tags are read now and decide, as
 * the kind's copier combines them.
 */
async function holdsScope(scope: ScopeSetting, view: SourceView, copier: ArtifactCopier): Promise<boolean> {
  if ('ids' in scope) return inScope(scope, view.scopeIds, {});
  if (carriesScope(scope, view.scopeTags)) return true;
  const tags =
    copier.resourceScopeTags && view.resourceId !== undefined ? await copier.resourceScopeTags(view) : view.scopeTags;
  return inScope(scope, view.scopeIds, tags);
}

async function advance(deps: IntakeDeps, record: InventoryRecord): Promise<CopyStep> {
  switch (record.status) {
    case 'expected':
    case 'failed': {
      const step = await startCopy(deps, record);
      await refillAfter(deps, record, step);
      return step;
    }
    case 'copying':
      return settleAndRefill(deps, record);
    default:
      deps.log.info('duplicate notification; copy already recorded', {
        artifactId: record.artifactId,
        status: record.status,
      });
      return { step: 'unchanged', record };
  }
}

/**
 * Records a rejection under the hash of the body as delivered, attributed
 * to the account whose topic carried it (never to an account the text
 * names), with a TTL so a flood of bad messages cannot grow the table for good.
 */
async function reject(deps: IntakeDeps, body: string, reason: string, account?: string): Promise<IntakeOutcome> {
  const recordId = rejectionId(body);
  const now = deps.clock.now();
  const created = await deps.inventory.create({
    ...newRecord({ artifactId: recordId, kind: 'unknown', status: 'rejected', reason, sourceAccount: account }, now),
    expiresAt: Math.floor(now.getTime() / 1000) + REJECTION_TTL_DAYS * 86_400,
  });
  deps.log.warn('notification rejected', { reason, account, recordId, repeated: !created });
  return { outcome: 'rejected', reason, recordId };
}
