/**
 * The alert an operator reads when a breach starts or ends: what is missing
 * (account, kind, resource, Region), how old its newest copy is, and why,
 * in a message that stands alone in an e-mail.
 */
import type { ResourceAudit } from './types';

/** Hours for people: two decimals at most; under 0.1 hour in minutes, so a short RPO does not read as 0h. */
export const formatHours = (hours: number) =>
  hours > 0 && hours < 0.1 ? `${Math.round(hours * 6000) / 100}min` : `${Math.round(hours * 100) / 100}h`;

/** SNS subjects: at most 100 printable ASCII characters. */
const subjectOf = (text: string) => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);

export function alertMessage(
  audit: ResourceAudit,
  change: 'started' | 'ended',
  breachSince?: string,
): { subject: string; message: string } {
  const age = audit.ageHours === undefined ? 'no copy at all' : `${formatHours(audit.ageHours)} old`;
  const head =
    change === 'started'
      ? `Bunker: ${audit.kind} ${audit.resource} in ${audit.account} breaches its RPO (${audit.reason})`
      : `Bunker: ${audit.kind} ${audit.resource} in ${audit.account} is back within its RPO`;
  const lines = [
    change === 'started'
      ? `A backup is missing: ${audit.resource} has no copy within its RPO.`
      : `The breach has ended: ${audit.resource} has a copy within its RPO again.`,
    '',
    `Account:     ${audit.account}`,
    `Region:      ${audit.region}`,
    `Kind:        ${audit.kind}`,
    `Resource:    ${audit.resource}`,
    `Newest copy: ${audit.newestCopy ?? 'none'} (${age})`,
    `RPO:         ${formatHours(audit.rpoHours)}`,
    ...(change === 'started' ? [`Reason:      ${audit.reason}: ${audit.detail ?? ''}`] : []),
    ...(change === 'ended' && breachSince ? [`Breaching since: ${breachSince}`] : []),
    '',
    `Run "bunker status --account ${audit.account} --kind ${audit.kind}" for the current state.`,
  ];
  return { subject: subjectOf(head), message: lines.join('\n') };
}
