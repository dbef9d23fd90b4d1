/**
 * Credentials of the backup account for the CLI: on the emulator, the local
 * operator's role in the backup account; in AWS, the default chain or
 * `--profile`, checked to belong to the backup account before anything is
 * read, so a wrong profile says which account it is instead of failing
 * later with "table not found".
 *
 * With `--operator`, those credentials then assume the vault's read-only
 * `<name>-operator` role, the one principal besides the vault Lambdas that
 * the source accounts' reader roles trust: what `bunker status` needs in
 * AWS. A profile whose `role_arn` is the operator role works without the
 * flag, as any assumed role does.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromIni, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { BunkerError } from '../lambdas/core/errors';
import { operatorRoleArn, readerRoleArn, vaultNames } from '../lambdas/core/names';
import type { BunkerConfig } from '../lib/config/schema';
import { localContext } from './local/accounts';
import { LOCAL_OPERATOR_ROLE } from './local/up';

export interface SessionOptions {
  /** A local emulator's URL: the backup account's operator role there. */
  readonly endpoint?: string;
  /** A named AWS profile (ignored with `endpoint`). */
  readonly profile?: string;
  /** The Region to read; default the backup account's Region from the configuration. */
  readonly region?: string;
  /** Assume the vault's `<name>-operator` role with the (checked) backup-account credentials. */
  readonly operator?: boolean;
}

/** Credentials that belong to another account than the one a command must act in. */
export class WrongAccountError extends BunkerError {}

/** No credentials were found, or STS refused the ones found. */
export class CredentialsError extends BunkerError {}

/** The account `context`'s credentials belong to. */
export async function accountOf(context: AwsContext): Promise<string | undefined> {
  return (await callerOf(context)).account;
}

/** Who `context`'s credentials are: account and ARN, as STS says. */
export async function callerOf(context: AwsContext): Promise<{ account?: string; arn?: string }> {
  const { Account, Arn } = await new STSClient(clientConfig(context))
    .send(new GetCallerIdentityCommand({}))
    .catch((error: unknown) => {
      throw new CredentialsError(
        `could not tell whose credentials these are (${(error as Error).message}): give credentials of the ` +
          'account through the default chain (environment, profile, SSO) or --profile',
        { cause: error },
      );
    });
  return { account: Account, arn: Arn };
}

/** Credentials of `account` in `region`, checked; `what` names the account in the error. */
export async function checkedContext(
  account: string,
  region: string,
  what: string,
  options: Omit<SessionOptions, 'region'>,
): Promise<AwsContext> {
  if (options.endpoint) return localContext(options.endpoint, account, region, LOCAL_OPERATOR_ROLE);
  const context: AwsContext = {
    region,
    ...(options.profile ? { credentials: fromIni({ profile: options.profile }) } : {}),
  };
  const actual = await accountOf(context);
  if (actual !== account) {
    throw new WrongAccountError(
      `the credentials of ${options.profile ? `profile ${options.profile}` : 'the default chain'} belong to account ${actual}, not ${what} ${account}`,
    );
  }
  return context;
}

/** The backup account's credentials for a command that reads the vault (as its operator role with `operator`). */
export async function backupContext(config: BunkerConfig, options: SessionOptions): Promise<AwsContext> {
  const { account } = config.backup;
  const region = options.region ?? config.backup.region;
  if (options.operator && options.endpoint) {
    return localContext(options.endpoint, account, region, vaultNames(config.name).operatorRole);
  }
  const context = await checkedContext(account, region, 'the backup account', options);
  return options.operator ? operatorContext(config, context) : context;
}

/** Where an operator role session's ARN starts: `arn:<partition>:sts::<account>:assumed-role/<name>-operator/`. */
const isOperatorSession = (arn: string | undefined, config: BunkerConfig) =>
  arn !== undefined &&
  new RegExp(`^arn:[a-z-]+:sts::${config.backup.account}:assumed-role/${vaultNames(config.name).operatorRole}/`).test(
    arn,
  );

/**
 * `context` (checked to be the backup account) as the operator role. Already
 * the operator role (a profile with its `role_arn`): used as it is, since the
 * role may not assume itself.
 */
export async function operatorContext(config: BunkerConfig, context: AwsContext): Promise<AwsContext> {
  const caller = await callerOf(context);
  if (isOperatorSession(caller.arn, config)) return context;
  const roleArn = operatorRoleArn(config.name, config.backup.account, partitionOf(caller.arn));
  const credentials = fromTemporaryCredentials({
    params: { RoleArn: roleArn, RoleSessionName: 'bunker-cli', DurationSeconds: 3600 },
    ...(context.credentials ? { masterCredentials: context.credentials } : {}),
    clientConfig: clientConfig(context),
  });
  const operator: AwsContext = { ...context, credentials };
  try {
    await callerOf(operator);
  } catch (error) {
    throw new BunkerError(
      `could not assume the operator role ${roleArn} as ${caller.arn ?? 'these credentials'} ` +
        `(${(error as Error).message}): is the vault stack deployed with this version, and does an IAM policy of ` +
        `account ${config.backup.account} allow these credentials sts:AssumeRole on it?`,
      { cause: error },
    );
  }
  return operator;
}

/** The partition of an ARN (`aws` when there is none). */
const partitionOf = (arn: string | undefined) => /^arn:([a-z-]+):/.exec(arn ?? '')?.[1] ?? 'aws';

/**
 * A reader role that would not let these credentials in, said with the role
 * and the fix; `undefined` when `error` is something else. STS answers
 * `AccessDenied` to a principal the role's trust policy does not name.
 */
export function readerRoleRefusal(
  error: unknown,
  config: BunkerConfig,
  account: string,
  operator: boolean,
): BunkerError | undefined {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  if (name !== 'AccessDenied' && !/sts:AssumeRole/.test(message ?? '')) return undefined;
  const source = config.sources.find((s) => s.account === account);
  const roleArn = readerRoleArn(config.name, account, source?.regions[0] ?? config.backup.region);
  const names = vaultNames(config.name);
  const trusted = [names.intakeRole, names.auditRole, names.operatorRole].join(', ');
  const fix = operator
    ? `the source stack of ${account} may predate the operator role: deploy it again so its reader role trusts ${names.operatorRole}`
    : `run with --operator (assumes ${names.operatorRole}; your credentials need sts:AssumeRole on it) or with a --profile whose role_arn is ${operatorRoleArn(config.name, config.backup.account)}`;
  return new BunkerError(
    `could not assume the reader role ${roleArn}: it trusts only the roles ${trusted} of the backup account; ${fix}`,
    { cause: error },
  );
}

/** An AWS "not found" answer turned into what an operator can act on. */
export function notFound(error: unknown, what: string, where: string): Error {
  const name = (error as { name?: string })?.name ?? '';
  if (/ResourceNotFound|NoSuchBucket|NotFound/.test(name)) {
    return new BunkerError(
      `${what} does not exist in ${where}: is the vault stack deployed there, and does --config name this deployment?`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
