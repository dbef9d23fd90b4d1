/**
 * `bunker recover`: opens the copies of a lost production account to a
 * recovery account, with two people (see lambdas/core/recovery/).
 *
 * Every move starts from the caller's own credentials of the backup account
 * (the standard chain, or `--profile`; with `--endpoint` the same chain
 * pointed at the emulator), checked to be that account. `--request`,
 * `--approve` and `--revoke` then act through the vault's `<name>-recovery`
 * role, the one principal besides the pruner that the service control
 * policy of `bunker scp` lets re-share RDS and Aurora copies. Its trust
 * policy admits an IAM user of the account only under its own user name as
 * the session name, so the CLI assumes it as `<user name>` and the session
 * STS then reports (`assumed-role/<name>-recovery/alice`) is what the
 * request records: the two-person rule counts it as the IAM user `alice`
 * (lambdas/core/recovery/identity.ts). A caller that is not an IAM user
 * (an Identity Center or other role session) cannot assume it and is
 * refused with how to run instead; `--no-recovery-role` acts with the
 * caller's own rights, for organizations without that SCP. Never the
 * operator role: its sessions are one role, and the rule would rightly
 * refuse every approval made through it.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromIni, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { DynamoRecoveryRequests } from '../lambdas/adapters/recovery/dynamo-requests';
import { SdkCopySharing, SdkKeyGrants, SnsRecoveryAlerts } from '../lambdas/adapters/recovery/sdk-recovery';
import { BunkerError } from '../lambdas/core/errors';
import { vaultNames } from '../lambdas/core/names';
import { systemClock } from '../lambdas/core/ports';
import { chooseCopies, isPulledKind, sharesOf } from '../lambdas/core/recovery/choose';
import { COMMAND_VARIABLES, type CommandSettings, commandSteps } from '../lambdas/core/recovery/commands';
import { type CallerIdentity, principalOf, recoveryRoleName } from '../lambdas/core/recovery/identity';
import { approveRecovery, type RecoveryDeps, requestRecovery, revokeRecovery } from '../lambdas/core/recovery/request';
import type { RecoveryRequest } from '../lambdas/core/recovery/types';
import { safeText } from '../lambdas/core/text';
import type { ArtifactKind, BunkerConfig } from '../lib/config/schema';
import { alertsTopicName } from '../lib/constructs/audit';
import { WrongAccountError } from './aws-session';
import { readInventory, readPulled } from './inventory';

export interface RecoverSessionOptions {
  readonly endpoint?: string;
  readonly profile?: string;
  /** `false` (`--no-recovery-role`): act with the caller's own rights instead of the recovery role's. */
  readonly recoveryRole?: boolean;
}

/** The caller's credentials, and whether to act through the recovery role (the default) or with them as they are. */
export type RecoverContext = AwsContext & { readonly recoveryRole?: boolean };

/**
 * The caller's credentials of the backup account: the standard chain (or
 * `profile`), against the emulator with `endpoint`, in the vault's Region.
 */
export function recoverContext(config: BunkerConfig, options: RecoverSessionOptions): RecoverContext {
  return {
    region: config.backup.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.profile ? { credentials: fromIni({ profile: options.profile }) } : {}),
    ...(options.recoveryRole === false ? { recoveryRole: false } : {}),
  };
}

/** Who `context`'s credentials are, as STS says, checked to be of the backup account. */
export async function backupCaller(config: BunkerConfig, context: AwsContext): Promise<CallerIdentity> {
  const sts = new STSClient(clientConfig(context));
  const { Account, Arn, UserId } = await sts.send(new GetCallerIdentityCommand({})).catch((error: unknown) => {
    throw new BunkerError(
      `could not tell who you are (${(error as Error).message}): recover runs with your own credentials of the ` +
        'backup account, from the default chain (environment, profile, SSO) or --profile, also with --endpoint',
      { cause: error },
    );
  });
  if (!Account || !Arn || !UserId) throw new BunkerError('STS did not say who these credentials are');
  if (Account !== config.backup.account) {
    throw new WrongAccountError(
      `these credentials (${Arn}) belong to account ${Account}, not the backup account ${config.backup.account}: ` +
        'recover runs with your own credentials of the backup account (default chain or --profile)',
    );
  }
  return { account: Account, arn: Arn, userId: UserId };
}

const partitionOf = (arn: string) => /^arn:([a-z-]+):/.exec(arn)?.[1] ?? 'aws';

/** Who acts, and with which credentials: the recovery role's session, or the caller as they are. */
export interface RecoverySession {
  readonly context: AwsContext;
  readonly caller: CallerIdentity;
}

/**
 * The caller of `context`, checked to be of the backup account, as the
 * recovery role under its own IAM user name (see the module's comment). A
 * session of the recovery role already (a profile with its `role_arn`) is
 * used as it is; with `recoveryRole: false`, the caller's own credentials.
 */
export async function recoverySession(config: BunkerConfig, context: RecoverContext): Promise<RecoverySession> {
  const { recoveryRole, ...own } = context;
  const caller = await backupCaller(config, own);
  if (recoveryRole === false) return { context: own, caller };
  const role = recoveryRoleName(config.name);
  const { account } = config.backup;
  if (caller.arn.startsWith(`arn:${partitionOf(caller.arn)}:sts::${account}:assumed-role/${role}/`)) {
    return { context: own, caller };
  }
  const user = /^arn:[a-z-]+:iam::\d{12}:user\/(?:.*\/)?([^/]+)$/.exec(caller.arn)?.[1];
  if (!user) {
    throw new BunkerError(
      `${caller.arn} is not an IAM user: the recovery role ${role}, the one the organization's service control ` +
        'policy lets share RDS and Aurora copies, admits IAM users of the backup account only, each under their own ' +
        "user name. Run with an IAM user's credentials (--profile), or with --no-recovery-role where that policy is " +
        `not attached (your own rights then act, and the two-person rule counts you as ${principalOf(caller)}).`,
    );
  }
  const roleArn = `arn:${partitionOf(caller.arn)}:iam::${account}:role/${role}`;
  const credentials = fromTemporaryCredentials({
    // The trust policy admits no other session name: the session is the person.
    params: { RoleArn: roleArn, RoleSessionName: user, DurationSeconds: 3600 },
    ...(own.credentials ? { masterCredentials: own.credentials } : {}),
    clientConfig: clientConfig(own),
  });
  const acting: AwsContext = { ...own, credentials };
  try {
    return { context: acting, caller: await backupCaller(config, acting) };
  } catch (error) {
    throw new BunkerError(
      `could not assume the recovery role ${roleArn} as ${caller.arn} (${(error as Error).message}): is the vault ` +
        `stack deployed with this version, and does an IAM policy of account ${account} allow this user ` +
        'sts:AssumeRole on it?',
      { cause: error },
    );
  }
}

/** The recovery's ports over `context`'s credentials. */
export function recoveryDeps(
  config: BunkerConfig,
  context: AwsContext,
  caller: CallerIdentity,
  say: (line: string) => void,
): RecoveryDeps {
  const names = vaultNames(config.name);
  const partition = partitionOf(caller.arn);
  const { account, region } = config.backup;
  return {
    requests: new DynamoRecoveryRequests(new DynamoDBClient(clientConfig(context)), names.inventoryTable),
    sharing: new SdkCopySharing(context),
    grants: new SdkKeyGrants(context, names.backupKeyAlias),
    alerts: new SnsRecoveryAlerts(context, `arn:${partition}:sns:${region}:${account}:${alertsTopicName(config.name)}`),
    clock: systemClock,
    prefix: config.name,
    backupAccount: account,
    partition,
    say,
  };
}

/** The `--config`/`--endpoint` flags the next commands need to reach the same vault. */
export interface CommandTarget {
  readonly configFile?: string;
  readonly endpoint?: string;
}

const flags = (target: CommandTarget) =>
  [
    ...(target.configFile ? [`--config ${target.configFile}`] : []),
    ...(target.endpoint ? [`--endpoint ${target.endpoint}`] : []),
  ].join(' ');

/** A request id: sortable by time, unguessable enough not to collide (`20261122-2130-9f3a1c`). */
export function newRecoveryId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 13);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export interface RecoverRequestOptions extends CommandTarget {
  readonly account: string;
  readonly toAccount: string;
  readonly toRegion?: string;
  readonly kind?: ArtifactKind;
  readonly resource?: string;
}

/** `--request`: chooses the copies, records the pending request, alerts, and says what the approver runs. */
export async function recoverRequestCommand(
  config: BunkerConfig,
  context: RecoverContext,
  options: RecoverRequestOptions,
  say: (line: string) => void,
): Promise<RecoveryRequest> {
  const { context: acting, caller } = await recoverySession(config, context);
  const deps = recoveryDeps(config, acting, caller, say);
  const toRegion = options.toRegion ?? config.backup.region;
  const [records, pulled] = await Promise.all([
    readInventory(acting, config.name, { account: options.account }),
    readPulled(acting, config.name, { account: options.account }),
  ]);
  const copies = chooseCopies(
    records,
    pulled,
    { account: options.account, kind: options.kind, resource: options.resource, toRegion },
    config.backup.region,
  );
  const request = await requestRecovery(
    deps,
    {
      id: newRecoveryId(deps.clock.now()),
      account: options.account,
      toAccount: options.toAccount,
      toRegion,
      ...(options.kind ? { kindFilter: options.kind } : {}),
      ...(options.resource ? { resourceFilter: options.resource } : {}),
      copies,
    },
    caller,
  );
  say(
    `Recovery ${request.id} requested by ${caller.arn}: account ${request.account} to ${request.toAccount} (${toRegion}).`,
  );
  for (const copy of request.copies) {
    const shares = sharesOf(copy);
    say(
      `  ${copy.kind} ${safeText(copy.resource)} (${copy.sourceRegion}): ${safeText(copy.copyId)}` +
        (shares.length > 0
          ? ` in ${copy.copyRegion}, ${shares.length} share(s)`
          : ' (pulled: restored by bunker restore, no share)'),
    );
  }
  say('The alerts topic was told. Nothing is shared yet. Another person (a different identity) must run:');
  say(`  bunker recover --approve ${request.id}${flags(options) ? ` ${flags(options)}` : ''}`);
  return request;
}

/** `--approve`: refuses the requester, carries the request out, alerts, and prints the next commands. */
export async function recoverApproveCommand(
  config: BunkerConfig,
  context: RecoverContext,
  id: string,
  target: CommandTarget,
  say: (line: string) => void,
): Promise<RecoveryRequest> {
  const { context: acting, caller } = await recoverySession(config, context);
  const deps = recoveryDeps(config, acting, caller, say);
  say(`Approving recovery ${id} as ${caller.arn}`);
  const request = await approveRecovery(deps, id, caller);
  say(
    `Recovery ${request.id} is ${request.state}: ${request.shared.length} share(s) with ${request.toAccount}` +
      (request.grants.length > 0
        ? `; grant(s) ${request.grants.map((g) => `${g.grantId} on ${g.keyArn} (${g.operations.join(', ')})`).join('; ')}`
        : '; no grant (pulled kinds only)') +
      '. The alerts topic was told.',
  );
  for (const line of nextCommands(config, request, target)) say(line);
  say(
    `When the recovery account has its own copies: bunker recover --revoke ${request.id}${flags(target) ? ` ${flags(target)}` : ''}`,
  );
  return request;
}

/** What the operator runs next, per step, with the credentials each needs. */
export function nextCommands(config: BunkerConfig, request: RecoveryRequest, target: CommandTarget): string[] {
  const settings: CommandSettings = {
    backupAccount: config.backup.account,
    partition: partitionOf(request.requestedBy.arn),
    account: request.account,
    toAccount: request.toAccount,
    toRegion: request.toRegion,
    ...target,
  };
  const steps = commandSteps(request.copies, settings);
  const lines = ['', 'Next, set:'];
  const text = steps.flatMap((step) => step.commands).join('\n');
  for (const [name, what] of Object.entries(COMMAND_VARIABLES)) {
    if (text.includes(`$${name}`)) lines.push(`  ${name}=   # ${what}`);
  }
  const shared = steps.filter((step) => !isPulledKind(step.kind));
  const pulled = steps.filter((step) => isPulledKind(step.kind));
  if (shared.length > 0) lines.push('', `With credentials of the recovery account ${request.toAccount}:`);
  for (const step of shared)
    lines.push('', `# ${safeText(step.title, 200)}`, ...step.commands.map((c) => safeText(c, 10_000)));
  if (pulled.length > 0) {
    lines.push(
      '',
      `With credentials of the backup account, and of ${request.toAccount} through --to-profile (bunker restore writes with both):`,
    );
  }
  for (const step of pulled)
    lines.push('', `# ${safeText(step.title, 200)}`, ...step.commands.map((c) => safeText(c, 10_000)));
  return lines;
}

/** `--revoke`: takes back every share and grant, records it, alerts. */
export async function recoverRevokeCommand(
  config: BunkerConfig,
  context: RecoverContext,
  id: string,
  say: (line: string) => void,
): Promise<RecoveryRequest> {
  const { context: acting, caller } = await recoverySession(config, context);
  const deps = recoveryDeps(config, acting, caller, say);
  say(`Revoking recovery ${id} as ${caller.arn}`);
  const request = await revokeRecovery(deps, id, caller);
  say(
    `Recovery ${request.id} is revoked: nothing of it is shared with ${request.toAccount}, and no grant of it is left.`,
  );
  return request;
}

/** `--list`: the requests and their state, oldest first. */
export async function recoverListCommand(
  config: BunkerConfig,
  context: AwsContext,
  say: (line: string) => void,
): Promise<RecoveryRequest[]> {
  const caller = await backupCaller(config, context);
  const requests = await recoveryDeps(config, context, caller, say).requests.list();
  if (requests.length === 0) say('No recovery requests.');
  for (const r of requests) {
    say(
      `${r.id}  ${r.state.padEnd(8)}  ${r.account} -> ${r.toAccount} (${r.toRegion})  ${r.copies.length} copy(ies)  ` +
        `requested ${r.requestedAt} by ${r.requestedBy.arn}` +
        (r.approvedBy ? `; approved ${r.approvedAt} by ${r.approvedBy.arn}` : '') +
        (r.revokedBy ? `; revoked ${r.revokedAt} by ${r.revokedBy.arn}` : ''),
    );
  }
  return requests;
}
