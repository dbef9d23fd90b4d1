/**
 * Names of the organization-wide rollout, derived like `../names.ts` so the
 * org stack, the vault and the enrolment function agree without lookups.
 */
import { sourceNames, vaultNames } from '../names';

/**
 * Set to `true` on the audit and sweep functions when the configuration has
 * organizational units: they then read the enrolment records for who is registered.
 */
export const ENROLLED_SOURCES_ENV = 'BUNKER_ENROLLED_SOURCES';

/** The vault's enrolment function role: the only principal the org-reader role trusts. */
export function enrolmentRoleName(prefix: string): string {
  return `${prefix}-enrolment`;
}

/** The read-only Organizations role in the management (or delegated administrator) account. */
export function orgReaderRoleName(prefix: string): string {
  return `${prefix}-org-reader`;
}

export function orgReaderRoleArn(prefix: string, managementAccount: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${managementAccount}:role/${orgReaderRoleName(prefix)}`;
}

/** The org stack in the management account, and the StackSet it makes unless the config names it. */
export function orgStackName(prefix: string): string {
  return `${prefix}-org`;
}

export function defaultStackSetName(prefix: string): string {
  return `${prefix}-source`;
}

/** The inventory key of an enrolled account's record. */
export const ENROLLED_PREFIX = 'enrolled:';
export const enrolmentId = (account: string) => `${ENROLLED_PREFIX}${account}`;

/**
 * Every intake topic of this vault, listed or enrolled, as an ARN pattern:
 * the queue and the intake key admit deliveries from topics of this name in
 * the backup account only, and only the vault's principals can create them.
 */
export function intakeTopicPattern(prefix: string, backupAccount: string, backupRegion: string, partition = 'aws') {
  return `arn:${partition}:sns:${backupRegion}:${backupAccount}:${vaultNames(prefix).intakeTopicPrefix}*`;
}

/** A source account's agent roles, one per Region: the only principals that may publish on its intake topic. */
export function agentRoleArns(prefix: string, account: string, regions: readonly string[], partition = 'aws') {
  return regions.map((region) => `arn:${partition}:iam::${account}:role/${sourceNames(prefix, region).agentRole}`);
}
