/**
 * What a drill's resources are called and tagged. The vault stack scopes
 * the drill role's create and delete rights to exactly these (RDS ids
 * `<prefix>-drill-*`, EC2 resources tagged `bunker:drill` at creation), so
 * a drill can make and delete its own restores and nothing else.
 */
import { createHash } from 'node:crypto';

/** The tag every resource a drill makes carries from its creation, valued with the drill's id. */
export const DRILL_TAG = 'bunker:drill';

/** The short hash of a drill's id in its resources' names: 12 hex digits, unique enough per backup account. */
export const drillHash = (drillId: string) => createHash('sha256').update(drillId).digest('hex').slice(0, 12);

/**
 * `<prefix>-drill-<hash>`: an RDS identifier (a letter first, letters,
 * digits and single hyphens, 63 characters at most with the prefix's 20),
 * a DynamoDB table name, an EC2 Name tag.
 */
export const drillResourceName = (prefix: string, drillId: string) => `${prefix}-drill-${drillHash(drillId)}`;

/** The tags of a drill's resource: who made it and for which drill. */
export function drillTags(prefix: string, drillId: string): { Key: string; Value: string }[] {
  return [
    { Key: DRILL_TAG, Value: drillId },
    { Key: 'Name', Value: drillResourceName(prefix, drillId) },
    { Key: 'bunker:managed-by', Value: 'bunker' },
  ];
}
