/**
 * The notification a source agent publishes to its intake topic, and the
 * SNS envelope it arrives in.
 *
 * It carries identifiers only: the vault trusts none of its contents beyond
 * choosing what to re-check, and re-reads everything else with a Describe.
 * The account it is attributed to comes from the transport (the topic SNS
 * says delivered it), never from the text. The format is versioned; a
 * reader rejects any version it does not know. See docs/notification-format.md.
 */
import * as z from 'zod/mini';
import './zod-messages';
import { KINDS } from '../kinds/registry';
import { rdsSnapshot } from '../kinds/rds-snapshot/kind';
import { KIND_NAMES, type KindName } from '../kinds/types';
import { BUSY_MS, INTERMEDIATE_COUNT_TTL_MS } from './agent/memory';
import { safeText } from './text';

/** Bodies larger than this are rejected before parsing: a notification is about 250 bytes. */
export const MAX_NOTIFICATION_BYTES = 4096;
/**
 * The SNS envelope around a notification adds about 1.2 KB (signature,
 * URLs, ids) and JSON escaping can double the notification: a delivered
 * body above this is rejected unread.
 */
export const MAX_DELIVERY_BYTES = 12_288;

export const NOTIFICATION_VERSION = 2;
export const SUPPORTED_VERSIONS = [1, 2] as const;

/*
 * The schemas below are `z.lazy`, and their parts functions: built at the
 * first parse, not when a function's bundle loads (see
 * lambdas/core/settings.ts). Every kind's member of the v2 union is built
 * even in a function that handles one kind: a notification of another kind
 * is rejected with the same words as before.
 */
const AccountId = () => z.string().check(z.regex(/^\d{12}$/, { error: 'expected a 12-digit account id' }));
const Region = () =>
  z.string().check(z.regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/, { error: 'expected a Region name' }));
/** Informative only: any ISO 8601 date-time with `Z` or an offset such as `+00:00`. */
const PublishedAt = () => z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time' });

/**
 * The most originals an agent may say it holds back. Far above any real
 * backlog (RDS allows 100 manual snapshots a Region; an EBS burst of a
 * hundred thousand is already absurd): the bound only keeps a sender from
 * writing a number the scheduler would sort wrongly.
 */
export const MAX_SOURCE_BACKLOG = 100_000;
/**
 * Optional in v2 (a sender that predates it, or an agent with nothing held
 * back lately, leaves it out): how many originals of the kind the agent
 * holds deferred at its cap. A scheduling hint and nothing more, the
 * sender's own word: it orders which account the vault serves first with
 * part of its slots, never whether anything is copied.
 */
const SourceBacklog = () =>
  z.optional(
    z
      .int({ error: 'expected a whole number' })
      .check(
        z.gte(0, { error: 'expected a count, 0 or more' }),
        z.lte(MAX_SOURCE_BACKLOG, { error: `expected at most ${MAX_SOURCE_BACKLOG}` }),
      ),
  );

/** v1 (Bunker 0.1): RDS DB snapshots only, named by ARN. Accepted for this release. */
export const NotificationV1Schema = z.lazy(() =>
  z.strictObject({
    version: z.literal(1),
    kind: z.literal('rds-snapshot', { error: 'expected kind "rds-snapshot"' }),
    sourceAccount: AccountId(),
    sourceRegion: Region(),
    snapshotArn: z.string().check(
      z.maxLength(512),
      z.refine((arn: string) => rdsSnapshot.parseArn(arn) !== undefined, { error: 'expected an RDS DB snapshot ARN' }),
    ),
    publishedAt: PublishedAt(),
  }),
);

const v2Of = (kind: KindName) =>
  z.strictObject({
    version: z.literal(2),
    kind: z.literal(kind),
    sourceAccount: AccountId(),
    sourceRegion: Region(),
    id: z.string().check(
      z.maxLength(255),
      z.refine((id: string) => KINDS[kind].isId(id), { error: `expected the id of an ${KINDS[kind].label}` }),
    ),
    publishedAt: PublishedAt(),
    sourceBacklog: SourceBacklog(),
  });

/** v2: a union on `kind`, one member per registered kind, each naming its artifact by the service's own id. */
export const NotificationV2Schema = z.lazy(() =>
  z.discriminatedUnion(
    'kind',
    // Built from the registry: a new kind is announced without a change here.
    KIND_NAMES.map(v2Of) as unknown as [ReturnType<typeof v2Of>, ...ReturnType<typeof v2Of>[]],
    { error: `expected kind to be one of ${KIND_NAMES.join(', ')}` },
  ),
);

export type NotificationV1 = z.infer<typeof NotificationV1Schema>;
export type NotificationV2 = z.infer<typeof NotificationV2Schema>;
export type Notification = NotificationV1 | NotificationV2;

/** What a notification names, whichever version it came in. */
export interface NotificationSubject {
  readonly version: 1 | 2;
  readonly kind: KindName;
  readonly sourceAccount: string;
  readonly sourceRegion: string;
  readonly id: string;
  /** v1's ARN, kept to check that it agrees with the account and Region. */
  readonly arn?: { readonly partition: string; readonly account: string; readonly region: string };
  /** v2's optional count of originals the agent holds back at its cap ({@link MAX_SOURCE_BACKLOG} at most). */
  readonly sourceBacklog?: number;
}

export type ParsedNotification =
  { readonly ok: true; readonly subject: NotificationSubject } | { readonly ok: false; readonly reason: string };

function schemaProblems(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map((p) => safeText(String(p), 40)).join('.') : '(message)';
      if (issue.code === 'unrecognized_keys') {
        // The key names are the sender's text: counted, and only the first shown, escaped and cut.
        return `${where}: ${issue.keys.length} unknown key(s), first "${safeText(issue.keys[0] ?? '', 40)}"`;
      }
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Checks size, JSON, version and schema of the notification as the sender
 * published it, and says why it fails. Never throws: a bad message is a
 * rejection, not an error.
 */
export function parseNotification(message: string): ParsedNotification {
  const bytes = Buffer.byteLength(message, 'utf8');
  if (bytes > MAX_NOTIFICATION_BYTES) {
    return { ok: false, reason: `message too large: ${bytes} bytes, limit ${MAX_NOTIFICATION_BYTES}` };
  }
  let document: unknown;
  try {
    document = JSON.parse(message);
  } catch {
    return { ok: false, reason: 'message is not JSON' };
  }
  const version = (document as { version?: unknown } | null)?.version;
  if (version === 1) {
    const result = NotificationV1Schema.safeParse(document);
    if (!result.success) {
      return { ok: false, reason: `message does not match notification schema v1: ${schemaProblems(result.error)}` };
    }
    const arn = rdsSnapshot.parseArn(result.data.snapshotArn);
    if (!arn) return { ok: false, reason: 'message does not match notification schema v1: snapshotArn' };
    const { sourceAccount, sourceRegion } = result.data;
    return {
      ok: true,
      subject: { version: 1, kind: 'rds-snapshot', sourceAccount, sourceRegion, id: arn.id, arn },
    };
  }
  if (version === 2) {
    const result = NotificationV2Schema.safeParse(document);
    if (!result.success) {
      return { ok: false, reason: `message does not match notification schema v2: ${schemaProblems(result.error)}` };
    }
    const { kind, sourceAccount, sourceRegion, id, sourceBacklog } = result.data;
    return {
      ok: true,
      subject: {
        version: 2,
        kind,
        sourceAccount,
        sourceRegion,
        id,
        ...(sourceBacklog === undefined ? {} : { sourceBacklog }),
      },
    };
  }
  const shown = typeof version === 'number' ? String(version) : version === undefined ? 'none' : typeof version;
  return {
    ok: false,
    reason: `unsupported notification version ${safeText(shown, 20)}; supported: ${SUPPORTED_VERSIONS.join(', ')}`,
  };
}

/** Builds a v2 notification from identifiers the source agent has just re-read. */
export function notificationOf(input: {
  kind: KindName;
  sourceAccount: string;
  sourceRegion: string;
  id: string;
  publishedAt: Date;
  /** Originals held back at the cap ({@link sourceBacklogOf}); left out when `undefined`. */
  sourceBacklog?: number;
}): NotificationV2 {
  return NotificationV2Schema.parse({
    version: NOTIFICATION_VERSION,
    kind: input.kind,
    sourceAccount: input.sourceAccount,
    sourceRegion: input.sourceRegion,
    id: input.id,
    publishedAt: input.publishedAt.toISOString(),
    ...(input.sourceBacklog === undefined ? {} : { sourceBacklog: Math.min(input.sourceBacklog, MAX_SOURCE_BACKLOG) }),
  });
}

/** What {@link sourceBacklogOf} reads of an agent container's memory of a kind (`lambdas/core/agent/memory.ts`). */
export interface BacklogMemory {
  readonly deferred: { readonly size: number };
  readonly candidates: readonly unknown[];
  readonly candidatesAt?: number;
  readonly capReachedAt?: number;
}

/**
 * The backlog an agent announces with an intermediate: the originals this
 * container deferred at the cap, plus those its last count saw without an
 * intermediate (other containers' deferrals), an estimate as old as that
 * count (5 minutes when the container is busy), which is all the vault's
 * order needs. Announced while the container holds deferred originals or
 * found the cap reached within the hour ({@link BUSY_MS}), so an account
 * whose backlog is gone says 0 for a while and the vault stops serving it
 * first; `undefined` (left out) otherwise: an account that never queues
 * sends nothing extra, and the originals a count saw just before this
 * container started them are not mistaken for a backlog.
 *
 * Left out too when the container has not counted within
 * {@link INTERMEDIATE_COUNT_TTL_MS} (or found its count's list stale): its
 * own deferrals alone would read as a small backlog, often 0, and the vault
 * would let the account's lead on its board go while hundreds of its
 * originals wait in the other containers' memories. A report is a count, or
 * nothing; the vault keeps the last one it had.
 */
export function sourceBacklogOf(memory: BacklogMemory, nowMs: number): number | undefined {
  const atCapLately = memory.capReachedAt !== undefined && nowMs - memory.capReachedAt < BUSY_MS;
  if (memory.deferred.size === 0 && !atCapLately) return undefined;
  const counted = memory.candidatesAt !== undefined && nowMs - memory.candidatesAt < INTERMEDIATE_COUNT_TTL_MS;
  if (!counted) return undefined;
  return memory.deferred.size + memory.candidates.length;
}

/** A message as SNS delivered it to the intake queue: the topic it came through, and what the sender published. */
export type ParsedDelivery =
  | { readonly ok: true; readonly topicArn: string; readonly message: string }
  | { readonly ok: false; readonly reason: string };

const EnvelopeSchema = z.lazy(() =>
  z.object({
    Type: z.literal('Notification'),
    TopicArn: z.string().check(z.regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/)),
    Message: z.string(),
  }),
);

/**
 * The body exactly as the queue delivered it. Only SNS can write to the
 * intake queue (its policy admits the intake topics and nothing else), and
 * SNS wraps what a sender published in an envelope naming the topic, so the
 * envelope is SNS's word and the `Message` inside it is the sender's.
 */
export function parseDelivery(body: string): ParsedDelivery {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_DELIVERY_BYTES) {
    return { ok: false, reason: `delivery too large: ${bytes} bytes, limit ${MAX_DELIVERY_BYTES}` };
  }
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'delivery is not an SNS notification envelope (not JSON)' };
  }
  const result = EnvelopeSchema.safeParse(document);
  if (!result.success) return { ok: false, reason: 'delivery is not an SNS notification envelope' };
  return { ok: true, topicArn: result.data.TopicArn, message: result.data.Message };
}
