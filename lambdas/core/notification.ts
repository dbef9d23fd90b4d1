/**
 * The notification a source agent publishes to the vault's intake topic.
 *
 * It carries identifiers only: the vault trusts none of its contents beyond
 * choosing what to re-check, and re-reads everything else with a Describe.
 * The format is versioned; a reader rejects any version it does not know.
 * See docs/notification-format.md.
 */
import { z } from 'zod';
import { parseRdsSnapshotArn } from './names';

/** Bodies larger than this are rejected before parsing: a v1 notification is about 400 bytes. */
export const MAX_NOTIFICATION_BYTES = 4096;

export const NOTIFICATION_VERSION = 1;

const AccountId = z.string().regex(/^\d{12}$/, { error: 'expected a 12-digit account id' });
const Region = z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/, { error: 'expected a Region name' });

export const RdsSnapshotNotificationSchema = z
  .object({
    version: z.literal(NOTIFICATION_VERSION, { error: `expected version ${NOTIFICATION_VERSION}` }),
    kind: z.literal('rds-snapshot', { error: 'expected kind "rds-snapshot"' }),
    sourceAccount: AccountId,
    sourceRegion: Region,
    snapshotArn: z
      .string()
      .max(512)
      .refine((arn) => parseRdsSnapshotArn(arn)?.cluster === false, {
        error: 'expected an RDS DB snapshot ARN',
      }),
    /** ISO 8601 time of publication; informative only. */
    publishedAt: z.iso.datetime({ error: 'expected an ISO 8601 date-time' }),
  })
  .strict();

export type RdsSnapshotNotification = z.infer<typeof RdsSnapshotNotificationSchema>;

export type ParsedNotification =
  | { readonly ok: true; readonly notification: RdsSnapshotNotification }
  | { readonly ok: false; readonly reason: string; readonly sourceAccount?: string };

/**
 * Checks size, JSON and schema, in that order, and says why a message fails.
 * Never throws: a bad message is a rejection, not an error.
 */
export function parseNotification(body: string): ParsedNotification {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_NOTIFICATION_BYTES) {
    return { ok: false, reason: `message too large: ${bytes} bytes, limit ${MAX_NOTIFICATION_BYTES}` };
  }
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'message is not JSON' };
  }
  const result = RdsSnapshotNotificationSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => {
        const where = issue.path.length > 0 ? issue.path.join('.') : '(message)';
        return issue.code === 'unrecognized_keys'
          ? `${where}: unknown keys ${issue.keys.join(', ')}`
          : `${where}: ${issue.message}`;
      })
      .join('; ');
    const claimed = (document as { sourceAccount?: unknown } | null)?.sourceAccount;
    return {
      ok: false,
      reason: `message does not match notification schema v${NOTIFICATION_VERSION}: ${problems}`,
      sourceAccount: typeof claimed === 'string' && /^\d{12}$/.test(claimed) ? claimed : undefined,
    };
  }
  return { ok: true, notification: result.data };
}

/** Builds a v1 notification from identifiers the source agent has just re-read. */
export function rdsSnapshotNotification(input: {
  sourceAccount: string;
  sourceRegion: string;
  snapshotArn: string;
  publishedAt: Date;
}): RdsSnapshotNotification {
  return RdsSnapshotNotificationSchema.parse({
    version: NOTIFICATION_VERSION,
    kind: 'rds-snapshot',
    sourceAccount: input.sourceAccount,
    sourceRegion: input.sourceRegion,
    snapshotArn: input.snapshotArn,
    publishedAt: input.publishedAt.toISOString(),
  });
}
