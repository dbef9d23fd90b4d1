/**
 * Credentials of the backup account for the CLI: on the emulator, the local
 * operator's role in the backup account; in AWS, the default chain or
 * `--profile`, checked to belong to the backup account before anything is
 * read, so a wrong profile says which account it is instead of failing
 * later with "table not found".
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromIni } from '@aws-sdk/credential-providers';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { BunkerError } from '../lambdas/core/errors';
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
}

/** Credentials that belong to another account than the one a command must act in. */
export class WrongAccountError extends BunkerError {}

/** The account `context`'s credentials belong to. */
export async function accountOf(context: AwsContext): Promise<string | undefined> {
  const { Account } = await new STSClient(clientConfig(context)).send(new GetCallerIdentityCommand({}));
  return Account;
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

/** The backup account's credentials for a command that reads the vault. */
export function backupContext(config: BunkerConfig, options: SessionOptions): Promise<AwsContext> {
  return checkedContext(config.backup.account, options.region ?? config.backup.region, 'the backup account', options);
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
