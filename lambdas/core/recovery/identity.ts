/**
 * Who asked and who approved: the caller's AWS identity as STS
 * GetCallerIdentity reports it, and when two of them are the same person
 * for the two-person rule.
 *
 * The rule compares principals, not session ARNs. An assumed role's STS ARN
 * (`arn:aws:sts::<account>:assumed-role/<role>/<session>`) ends with a
 * session name that whoever calls AssumeRole chooses freely, so two sessions
 * of one role are one identity however their session names differ: one
 * person could otherwise request as session `a` and approve as session `b`.
 * The one exception is a role of IAM Identity Center (`AWSReservedSSO_…`),
 * whose session name AWS sets to the signed-in user's name: there the
 * session name tells two people apart. The other is Bunker's own recovery
 * role (`<name>-recovery`, lib/constructs/recovery.ts), whose trust policy
 * admits an IAM user of the account only under its own user name as the
 * session name: a session `alice` of it is the IAM user `alice`, and counts
 * as that user, so alice cannot request as herself and approve through the
 * role (or the reverse). IAM users are compared by name, the root by
 * account; federated users (GetFederationToken) by account alone, since
 * their name is chosen by whoever called it.
 */

/** The caller as STS reports it. */
export interface CallerIdentity {
  readonly account: string;
  readonly arn: string;
  /** `AIDA…` for a user, `AROA…:<session>` for an assumed role, the account for the root. */
  readonly userId: string;
}

/** Roles whose session name AWS sets to the signed-in person's user name. */
const IDENTITY_CENTER_ROLE = /^AWSReservedSSO_/;

/** Bunker's recovery role of the deployment `prefix`: the same name the vault stack gives it. */
export const recoveryRoleName = (prefix: string) => `${prefix}-recovery`;

/**
 * A recovery role's name, of any deployment (a deployment's name is as
 * lib/config/schema.ts allows): the records do not say which deployment
 * made them, and a backup account holds one. The service control policy of
 * `bunker scp` keeps anyone but a deployment from changing this role's trust.
 */
const RECOVERY_ROLE = /^[a-z][a-z0-9-]{0,19}-recovery$/;

/**
 * The principal behind `caller`, as a string equal for two callers exactly
 * when the two-person rule counts them as one identity.
 */
export function principalOf(caller: CallerIdentity): string {
  const match = /^arn:[a-z-]+:(iam|sts)::(\d{12}):(.+)$/.exec(caller.arn);
  if (!match) return `arn:${caller.arn}`;
  const [, service, account, resource] = match;
  if (service === 'iam' && resource === 'root') return `root:${account}`;
  if (service === 'iam' && resource.startsWith('user/')) {
    // A user's ARN carries its path; the name alone is unique in the account.
    return `user:${account}:${resource.split('/').pop()}`;
  }
  if (service === 'sts' && resource.startsWith('assumed-role/')) {
    const [, role, ...session] = resource.split('/');
    // The trust policy made the session name the caller's own IAM user name.
    if (RECOVERY_ROLE.test(role) && session.length === 1) return `user:${account}:${session[0]}`;
    return IDENTITY_CENTER_ROLE.test(role)
      ? `role:${account}:${role}:session:${session.join('/')}`
      : `role:${account}:${role}`;
  }
  if (service === 'sts' && resource.startsWith('federated-user/')) return `federated:${account}`;
  return `${service}:${account}:${resource}`;
}

/** Whether `a` and `b` are one identity for the two-person rule (see the module's comment). */
export function sameIdentity(a: CallerIdentity, b: CallerIdentity): boolean {
  return principalOf(a) === principalOf(b);
}
