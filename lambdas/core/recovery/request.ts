/**
 * The three moves of a recovery: request, approve (and carry out), revoke.
 *
 * Carrying out is idempotent: every share and the grant are recorded in the
 * request as they are made, a share is an add-to-set in AWS, and a grant is
 * looked for by its deterministic name before one is created. A re-run after
 * a crash therefore finishes what was started and never doubles anything.
 * Revoking takes back every share the request could have made, recorded or
 * not (a crash may fall between a share and its record), and every grant of
 * its name.
 */
import { BunkerError } from '../errors';
import type { Clock } from '../ports';
import { sharesOf } from './choose';
import { type CallerIdentity, principalOf, sameIdentity } from './identity';
import {
  type CopySharing,
  GRANT_OPERATIONS,
  type KeyGrants,
  type RecoveryAlerts,
  type RecoveryCopy,
  type RecoveryGrant,
  type RecoveryRequest,
  type RecoveryRequests,
  recoveryItemId,
  shareKey,
  type ShareTarget,
} from './types';

/** A recovery move the rules refuse; nothing was changed. */
export class RecoveryRefusedError extends BunkerError {}

export interface RecoveryDeps {
  readonly requests: RecoveryRequests;
  readonly sharing: CopySharing;
  readonly grants: KeyGrants;
  readonly alerts: RecoveryAlerts;
  readonly clock: Clock;
  /** The deployment's name (`config.name`): grants are called `<prefix>-recovery-<id>`. */
  readonly prefix: string;
  readonly backupAccount: string;
  readonly partition: string;
  /** Progress, one line at a time (identifiers only). */
  readonly say?: (line: string) => void;
}

export interface RecoveryAsk {
  readonly id: string;
  readonly account: string;
  readonly toAccount: string;
  readonly toRegion: string;
  readonly kindFilter?: RecoveryRequest['kindFilter'];
  readonly resourceFilter?: string;
  readonly copies: readonly RecoveryCopy[];
}

/** The grant's name: deterministic, so a retry finds it. */
export const grantNameOf = (prefix: string, id: string) => `${prefix}-recovery-${id}`;

/** Every share a request makes, in order. */
export const sharesOfRequest = (request: Pick<RecoveryRequest, 'copies'>): ShareTarget[] =>
  request.copies.flatMap(sharesOf);

/** The Regions whose backup-data key the recovery account must be granted: those of the shared copies. */
const grantRegions = (request: Pick<RecoveryRequest, 'copies'>) =>
  [...new Set(sharesOfRequest(request).map((share) => share.region))].sort();

const describeCopies = (request: RecoveryRequest) =>
  request.copies.map((copy) => `${copy.kind} ${copy.resource} (${copy.sourceRegion}): ${copy.copyId}`).join('; ');

/** Records a pending request and raises the alert. Refuses an empty or self-pointed request. */
export async function requestRecovery(
  deps: RecoveryDeps,
  ask: RecoveryAsk,
  caller: CallerIdentity,
): Promise<RecoveryRequest> {
  if (ask.copies.length === 0) {
    throw new RecoveryRefusedError(
      `the vault holds no available copy of account ${ask.account} matching these filters: nothing to recover`,
    );
  }
  if (ask.toAccount === deps.backupAccount) {
    throw new RecoveryRefusedError(`the recovery account must not be the backup account ${deps.backupAccount}`);
  }
  const now = deps.clock.now().toISOString();
  const request: RecoveryRequest = {
    artifactId: recoveryItemId(ask.id),
    recovery: 'request',
    id: ask.id,
    state: 'pending',
    account: ask.account,
    toAccount: ask.toAccount,
    toRegion: ask.toRegion,
    ...(ask.kindFilter ? { kindFilter: ask.kindFilter } : {}),
    ...(ask.resourceFilter ? { resourceFilter: ask.resourceFilter } : {}),
    copies: ask.copies,
    requestedBy: caller,
    requestedAt: now,
    shared: [],
    grants: [],
    version: 1,
  };
  if (!(await deps.requests.create(request))) {
    throw new RecoveryRefusedError(`a recovery request ${ask.id} exists already`);
  }
  return alertRequest(deps, request);
}

/** Publishes the request's alert unless it was, and records that it was (twice on a crash, never zero times). */
async function alertRequest(deps: RecoveryDeps, request: RecoveryRequest): Promise<RecoveryRequest> {
  if (request.requestAlertedAt) return request;
  await deps.alerts.publish(
    `Bunker ${deps.prefix}: recovery of ${request.account} requested`,
    `${request.requestedBy.arn} asks to open ${request.copies.length} copy(ies) of account ${request.account} to ` +
      `account ${request.toAccount} (${request.toRegion}): ${describeCopies(request)}. Nothing is shared until another ` +
      `identity runs: bunker recover --approve ${request.id}. If nobody in your team asked for this, run ` +
      `bunker recover --revoke ${request.id} and find out who did.`,
  );
  return update(deps, request, (r) => ({ ...r, requestAlertedAt: deps.clock.now().toISOString() }));
}

/**
 * Writes `change(stored)` over the stored request, re-reading after a lost
 * race; the change is applied to what is stored, never to a stale copy.
 */
async function update(
  deps: RecoveryDeps,
  request: RecoveryRequest,
  change: (stored: RecoveryRequest) => RecoveryRequest,
): Promise<RecoveryRequest> {
  let stored = request;
  for (;;) {
    const next = { ...change(stored), version: stored.version + 1 };
    if (await deps.requests.replace(stored, next)) return next;
    const fresh = await deps.requests.get(request.id);
    if (!fresh) throw new BunkerError(`the recovery request ${request.id} disappeared`);
    stored = fresh;
  }
}

async function load(deps: RecoveryDeps, id: string): Promise<RecoveryRequest> {
  const request = await deps.requests.get(id);
  if (!request) throw new RecoveryRefusedError(`no recovery request ${id}: bunker recover --list shows them`);
  return request;
}

/**
 * Approves `id` as `caller` and carries it out: shares each chosen copy with
 * the recovery account only, grants that account's root
 * {@link GRANT_OPERATIONS} on the backup-data key of each Region the copies
 * are in, and records each as it is made. Refused, with nothing changed,
 * when `caller` is the requester's identity or the request was revoked.
 * Run again on an approved request, it finishes what is missing.
 */
export async function approveRecovery(
  deps: RecoveryDeps,
  id: string,
  caller: CallerIdentity,
): Promise<RecoveryRequest> {
  let request = await load(deps, id);
  if (sameIdentity(request.requestedBy, caller)) {
    throw new RecoveryRefusedError(
      `${caller.arn} asked for recovery ${id} (as ${request.requestedBy.arn}) and may not approve it: another ` +
        `identity must (the principals compared are ${principalOf(caller)} and ${principalOf(request.requestedBy)}; ` +
        'two sessions of one role count as one identity)',
    );
  }
  if (request.state === 'revoked') {
    throw new RecoveryRefusedError(`recovery ${id} was revoked at ${request.revokedAt}: request a new one`);
  }
  request = await alertRequest(deps, request);
  if (request.state === 'pending') {
    const at = deps.clock.now().toISOString();
    request = await update(deps, request, (stored) => {
      if (stored.state !== 'pending') return stored;
      return { ...stored, state: 'approved', approvedBy: caller, approvedAt: at };
    });
    if (request.state === 'revoked') throw new RecoveryRefusedError(`recovery ${id} was revoked meanwhile`);
  }
  if (!request.approvalAlertedAt) {
    await deps.alerts.publish(
      `Bunker ${deps.prefix}: recovery of ${request.account} approved`,
      `${request.approvedBy?.arn} approved recovery ${id} requested by ${request.requestedBy.arn}: ` +
        `${sharesOfRequest(request).length} share(s) with account ${request.toAccount} and a grant on the backup-data key ` +
        `for ${grantRegions(request).join(', ') || 'no Region (pulled kinds only)'}. Copies: ${describeCopies(request)}. ` +
        `To take it back: bunker recover --revoke ${id}.`,
    );
    request = await update(deps, request, (stored) => ({
      ...stored,
      approvalAlertedAt: deps.clock.now().toISOString(),
    }));
  }
  return carryOut(deps, request);
}

async function carryOut(deps: RecoveryDeps, start: RecoveryRequest): Promise<RecoveryRequest> {
  let request = start;
  for (const target of sharesOfRequest(request)) {
    const key = shareKey(target);
    if (request.shared.includes(key)) continue;
    await deps.sharing.share(target, request.toAccount);
    deps.say?.(`  shared ${target.type} ${target.id} (${target.region}) with ${request.toAccount}`);
    request = await update(deps, request, (stored) =>
      stored.state === 'revoked' || stored.shared.includes(key)
        ? stored
        : { ...stored, shared: [...stored.shared, key] },
    );
    if (request.state === 'revoked') {
      // A revoke ran between the share and its record: take back what it could not see.
      await deps.sharing.unshare(target, request.toAccount);
      throw new RecoveryRefusedError(`recovery ${request.id} was revoked meanwhile; the share just made is taken back`);
    }
  }
  for (const region of grantRegions(request)) {
    if (request.grants.some((grant) => grant.region === region && grant.grantId)) continue;
    const grant = await ensureGrant(deps, request, region);
    deps.say?.(
      `  granted ${grant.operations.join(', ')} on ${grant.keyArn} to ${grant.grantee} (grant ${grant.grantId})`,
    );
    request = await update(deps, request, (stored) =>
      stored.state === 'revoked'
        ? stored
        : { ...stored, grants: [...stored.grants.filter((g) => g.region !== region), grant] },
    );
    if (request.state === 'revoked') {
      await deps.grants.revoke(grant.keyArn, region, grant.grantId);
      throw new RecoveryRefusedError(`recovery ${request.id} was revoked meanwhile; the grant just made is revoked`);
    }
  }
  if (request.state === 'approved') {
    const at = deps.clock.now().toISOString();
    request = await update(deps, request, (stored) =>
      stored.state === 'approved' ? { ...stored, state: 'open', openedAt: at } : stored,
    );
  }
  return request;
}

/** The request's grant in `region`: the one of its name if it exists (a crash after creating it), else a new one. */
async function ensureGrant(
  deps: RecoveryDeps,
  request: RecoveryRequest,
  region: string,
): Promise<RecoveryGrant & { readonly grantId: string }> {
  const keyArn = await deps.grants.keyArn(region);
  const spec = {
    name: grantNameOf(deps.prefix, request.id),
    grantee: `arn:${deps.partition}:iam::${request.toAccount}:root`,
    operations: [...GRANT_OPERATIONS],
  };
  const [found] = await deps.grants.find(keyArn, region, spec.name);
  const grantId = found?.grantId ?? (await deps.grants.create(keyArn, region, spec));
  return { region, keyArn, ...spec, grantId };
}

/**
 * Takes back everything `id` gave: every share it could have made and every
 * grant of its name, then records the revocation. Anyone may revoke (it only
 * closes); a pending request is withdrawn. Safe to run again.
 */
export async function revokeRecovery(deps: RecoveryDeps, id: string, caller: CallerIdentity): Promise<RecoveryRequest> {
  let request = await load(deps, id);
  // Recorded first: an approval still running sees it at its next write and stops.
  const at = deps.clock.now().toISOString();
  request = await update(deps, request, (stored) => ({
    ...stored,
    state: 'revoked',
    revokedBy: stored.revokedBy ?? caller,
    revokedAt: stored.revokedAt ?? at,
  }));
  for (const target of sharesOfRequest(request)) {
    await deps.sharing.unshare(target, request.toAccount);
    deps.say?.(`  no longer shared: ${target.type} ${target.id} (${target.region}) with ${request.toAccount}`);
  }
  const name = grantNameOf(deps.prefix, request.id);
  for (const region of grantRegions(request)) {
    const keyArn =
      request.grants.find((grant) => grant.region === region)?.keyArn ?? (await deps.grants.keyArn(region));
    const recorded = request.grants.filter((grant) => grant.region === region && grant.grantId);
    const found = (await deps.grants.find(keyArn, region, name)).map((grant) => grant.grantId);
    for (const grantId of new Set([...found, ...recorded.map((grant) => grant.grantId as string)])) {
      await deps.grants.revoke(keyArn, region, grantId);
      deps.say?.(`  revoked grant ${grantId} on ${keyArn}`);
    }
  }
  request = await update(deps, request, (stored) => ({ ...stored, shared: [] }));
  await deps.alerts.publish(
    `Bunker ${deps.prefix}: recovery of ${request.account} revoked`,
    `${caller.arn} revoked recovery ${id}: no copy of account ${request.account} is shared with ${request.toAccount} ` +
      'any more and its grants on the backup-data key are gone.',
  );
  return request;
}
