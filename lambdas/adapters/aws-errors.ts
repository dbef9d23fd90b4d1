/**
 * What an AWS answer means for Bunker's copies of RDS DB snapshots, Aurora
 * cluster snapshots, EBS snapshots and AMIs, read from the error alone.
 *
 * The adapters call this so the core can tell back-pressure (wait, never
 * drop) from a final answer (exists, gone, refused) and from everything else
 * (retry). Codes are matched exactly, never by substring: RDS's
 * `SharedSnapshotQuotaExceeded` (refused) contains `SnapshotQuotaExceeded`
 * (quota), and a substring match would turn a final refusal into endless waiting.
 */

/**
 * - `quota`: a copy or snapshot quota is full. Back-pressure: keep the work and try later.
 * - `throttled`: the request rate was too high. Back-pressure as well.
 * - `exists`: the deterministic target is already there: the copy has been made or is under way.
 * - `not-found`: the source is gone, or not shared with the caller.
 * - `refused`: AWS refused for a reason retrying will not fix (key not usable, access denied, bad request).
 * - `transient`: anything else, known to pass or unknown: the caller retries.
 */
export type AwsErrorClass = 'quota' | 'throttled' | 'exists' | 'not-found' | 'refused' | 'transient';

/** An AWS error reduced to what may be stored in an inventory reason or written to a log. */
export interface ClassifiedAwsError {
  class: AwsErrorClass;
  /** The error code, without control characters and at most 100 characters long. */
  code: string;
  /** AWS's message, without control characters and at most 300 characters long. */
  message: string;
}

const MESSAGE_MAX = 300;
const CODE_MAX = 100;
const ELLIPSIS = '…';

/** The deterministic target names: RDS snapshot identifiers and AMI names are unique per account and Region. */
const EXISTS = new Set(['DBSnapshotAlreadyExists', 'DBClusterSnapshotAlreadyExists', 'InvalidAMIName.Duplicate']);

/**
 * The codes the SDK's own retry strategy treats as throttling, plus EC2's
 * per-volume snapshot rate and KMS's request rate as other services relay it.
 */
const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'EC2ThrottledException',
  'SlowDown',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'SnapshotCreationPerVolumeRateExceeded',
  'KMSThrottlingException',
  'KMS.ThrottlingException',
]);

/**
 * Quotas on snapshots and copies. RDS answers both its concurrent-copy quota
 * ("Cannot copy more than 5 snapshots across regions") and its manual-snapshot
 * quota with `SnapshotQuotaExceeded`; EC2 answers copies in progress with
 * `ResourceLimitExceeded` ("Too many snapshot copies in progress. The limit
 * is 5 for this destination region."). Total-count quotas are back-pressure
 * too: retention frees room, and a backup waiting for room is not dropped.
 */
const QUOTA = new Set([
  'SnapshotQuotaExceeded',
  'ResourceLimitExceeded',
  'SnapshotLimitExceeded',
  'PendingSnapshotLimitExceeded',
  'ConcurrentSnapshotLimitExceeded',
  'ServiceQuotaExceededException',
]);

/**
 * A source that is gone or not shared. RDS and EC2 answer "not shared with
 * you" the same way as "does not exist". `InvalidAMIID.Unavailable` is an AMI
 * that has been deregistered ("is no longer available"). The instances and
 * volumes are here because Bunker reads their tags next to their snapshots.
 */
const NOT_FOUND = new Set([
  'DBSnapshotNotFound',
  'DBClusterSnapshotNotFound',
  'DBInstanceNotFound',
  'DBClusterNotFound',
  'ResourceNotFound',
  'ResourceNotFoundException',
  'InvalidSnapshot.NotFound',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Unavailable',
  'InvalidVolume.NotFound',
  'InvalidInstanceID.NotFound',
  // An id EC2 cannot parse names nothing (a notification's id that the schema's pattern let through): final, so
  // the message is rejected with its reason instead of retried into the dead-letter queue.
  'InvalidSnapshotID.Malformed',
  'InvalidAMIID.Malformed',
  'InvalidVolumeID.Malformed',
  'InvalidInstanceID.Malformed',
]);

/**
 * Known to pass, named here so the refusal families below cannot claim them.
 *
 * A snapshot or AMI in the wrong state is transient: the usual cause is a
 * source still being created (a copy asked for the moment its event arrives,
 * or an automated snapshot RDS is still taking), which becomes copyable by
 * itself. A source on its way out soon answers "not found", which is final,
 * so only a state stuck for good is left to the caller's bounded retries.
 * `InvalidSnapshot.InUse` is a snapshot still held by an AMI: it frees once the
 * AMI is deregistered, and EC2 reports that deregistration eventually, not at once.
 */
const TRANSIENT = new Set([
  'InvalidDBSnapshotState',
  'InvalidDBClusterSnapshotState',
  'InvalidDBInstanceState',
  'InvalidDBClusterState',
  'IncorrectState',
  'InvalidState',
  'InvalidSnapshot.InUse',
  'ConcurrentTagAccess',
  'KMSInternalException',
  'KMS.KMSInternalException',
  'KeyUnavailableException',
  'DependencyTimeoutException',
  'InternalFailure',
  'InternalError',
  'InternalServerError',
  'ServerInternal',
  'ServiceUnavailable',
  'Unavailable',
  'ExpiredToken',
  'ExpiredTokenException',
]);

/**
 * Refusals about who may do what, and about keys: another try with the same
 * roles and keys gets the same answer. `SharedSnapshotQuotaExceeded` is the
 * source account's snapshot already shared with as many accounts as RDS allows:
 * only the source account can make room. KMS's own `NotFoundException` and
 * `DisabledException` are about the key, not the snapshot.
 */
const REFUSED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'AuthorizationError',
  'AuthorizationNotFound',
  'NotAuthorized',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'OptInRequired',
  'Blocked',
  'AccountDisabled',
  'SharedSnapshotQuotaExceeded',
  'KMSKeyNotAccessible',
  'CustomerKeyHasBeenRevoked',
  'NotFoundException',
  'DisabledException',
  'KMSInvalidStateException',
  'InvalidKeyUsageException',
  'IncorrectKeyException',
  'InvalidArnException',
]);

/**
 * Key errors as EC2 and other services relay them: `InvalidKMSKey.InvalidState`,
 * `InvalidKeyId.NotFound`, `KMS.DisabledException`, `KMSAccessDeniedException`...
 * Checked after {@link THROTTLED} and {@link TRANSIENT}, which name the KMS
 * answers that do pass.
 */
const REFUSED_FAMILY = /^(?:KMS|InvalidKMSKey\.|InvalidKeyId(?:\.|$))/;

/**
 * A request AWS will never accept as sent. Checked after the messages, because
 * RDS and EC2 explain many different things under these generic codes.
 */
const REFUSED_REQUEST = new Set([
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'InvalidParameter',
  'InvalidRequest',
  'MissingParameter',
  'ValidationError',
  'ValidationException',
  'UnsupportedOperation',
  'Unsupported',
  'InvalidRegion',
  'SnapshotCopyUnsupported.InterRegion',
  'InvalidSnapshotID.Malformed',
  'InvalidAMIID.Malformed',
  'InvalidAMIName.Malformed',
  'IdempotentParameterMismatch',
]);

/** Copy quotas AWS states only in words, whatever the code. */
const QUOTA_WORDS = [/\bcannot copy more than \d+/i, /\blimit is \d+/i, /\btoo many\b[^.]{0,60}\bcop(?:y|ies)\b/i];

/** CopyImage of a shared AMI whose snapshots are not shared: an `InvalidRequest` that means "not shared". */
const NOT_SHARED_WORDS = /\bpermission to access the storage of this ami\b/i;

/** Only the start of a message is searched, so an oversized message costs no more than a usual one. */
const WORDS_SEARCHED = 1_000;

/**
 * The deletions a lock or a protection refuses, by the call refused, and the
 * code EC2 answers each with: a snapshot under EBS snapshot lock
 * (`SnapshotLocked`), an image under deregistration protection
 * (`OperationNotPermitted`). Matched per call, by exact code, never by the
 * words of a message: `OperationNotPermitted` is a generic EC2 code and means
 * "protected" only as DeregisterImage's answer, and a message that merely
 * mentions a lock (a key, a name) must not pass for one. The EC2 API
 * reference lists only the common codes for these calls, so these are the
 * codes observed and modelled by the emulator launcher.
 */
export const LOCK_REFUSALS = {
  DeleteSnapshot: new Set(['SnapshotLocked']),
  DeregisterImage: new Set(['OperationNotPermitted']),
} as const satisfies Record<string, ReadonlySet<string>>;

/** A deletion call a lock or protection may refuse. */
export type LockableCall = keyof typeof LOCK_REFUSALS;

/** Whether `error` is `call` refused by a lock or a protection (so retrying before the lock ends is pointless). */
export function isLockRefusal(call: LockableCall, error: unknown): boolean {
  if (!isObject(error)) return false;
  return codesOf(error).some((code) => LOCK_REFUSALS[call].has(code));
}

type ErrorShape = {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  Error?: { Code?: unknown };
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: { throttling?: unknown };
};

const isObject = (value: unknown): value is ErrorShape => typeof value === 'object' && value !== null;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * Every code the error carries, as matched against the tables. SDK v3's
 * modeled RDS exceptions are named `…Fault` while RDS's wire code often is
 * not (`SnapshotQuotaExceededFault` vs `SnapshotQuotaExceeded`), so the suffix
 * is dropped. EC2 codes may come as `Client.X` or `Server.X` in state reasons.
 */
function codesOf(error: ErrorShape): string[] {
  const raw = [error.name, error.Code, isObject(error.Error) ? error.Error.Code : undefined, error.code];
  const codes = new Set<string>();
  for (const value of raw) {
    const code = text(value);
    if (code) codes.add(code.replace(/^(?:Client|Server)\./, '').replace(/Fault$/, ''));
  }
  return [...codes];
}

/**
 * The class of an AWS error: how the caller should react to it. Pure: reads
 * the error's `name`, `Code`, `Error.Code` and `code`, its
 * `$metadata.httpStatusCode` and `$retryable`, and, for an SDK error (one with
 * `$metadata`) whose code says nothing more specific, its message. Anything it
 * does not recognise, including non-errors, is `transient`.
 */
export function classifyAwsError(error: unknown): AwsErrorClass {
  if (!isObject(error)) return 'transient';
  const codes = codesOf(error);
  const has = (set: ReadonlySet<string>) => codes.some((code) => set.has(code));

  if (has(EXISTS)) return 'exists';
  if (
    has(THROTTLED) ||
    error.$metadata?.httpStatusCode === 429 ||
    (isObject(error.$retryable) && error.$retryable.throttling === true)
  )
    return 'throttled';
  if (has(QUOTA)) return 'quota';
  if (has(NOT_FOUND)) return 'not-found';
  if (has(TRANSIENT)) return 'transient';
  if (has(REFUSED) || codes.some((code) => REFUSED_FAMILY.test(code))) return 'refused';
  if (isObject(error.$metadata)) {
    const words = (text(error.message) ?? '').slice(0, WORDS_SEARCHED);
    if (QUOTA_WORDS.some((pattern) => pattern.test(words))) return 'quota';
    if (NOT_SHARED_WORDS.test(words)) return 'not-found';
  }
  if (has(REFUSED_REQUEST)) return 'refused';
  return 'transient';
}

/**
 * C0 and C1 controls, line and paragraph separators, and the bidirectional
 * overrides and isolates: anything that could break a log line or make it
 * read differently from what it holds.
 */
const UNSAFE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

const escapeOf = (char: string): string => {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
  }
};

/**
 * The text with every unsafe character written as a visible escape, cut to
 * `max` UTF-16 units, a trailing ellipsis included. Never cuts inside an
 * escape or a surrogate pair. Stops reading at the cut, so a long message
 * costs no more than a short one.
 */
function bounded(value: string, max: number): string {
  const pieces: string[] = [];
  let length = 0;
  for (const char of value) {
    const piece = UNSAFE.test(char) ? escapeOf(char) : char;
    if (length + piece.length > max) {
      while (pieces.length > 0 && length + ELLIPSIS.length > max) length -= (pieces.pop() as string).length;
      return pieces.join('') + ELLIPSIS;
    }
    pieces.push(piece);
    length += piece.length;
  }
  return pieces.join('');
}

/** The code to report: the SDK's name unless it is the bare `Error`, else the wire code. */
function reportedCode(error: unknown): string {
  if (!isObject(error)) return 'Unknown';
  const candidates = [error.name, error.Code, isObject(error.Error) ? error.Error.Code : undefined, error.code]
    .map(text)
    .filter((code): code is string => code !== undefined);
  return candidates.find((code) => code !== 'Error') ?? candidates[0] ?? 'Unknown';
}

function messageOf(error: unknown): string {
  if (typeof error === 'string') return error;
  if (isObject(error)) return text(error.message) ?? '';
  return '';
}

/**
 * The error's class with its code and message made safe to store and log:
 * AWS messages can echo what the caller sent, including a source's names, so
 * control characters become visible escapes and both strings are bounded.
 */
export function describeAwsError(error: unknown): ClassifiedAwsError {
  return {
    class: classifyAwsError(error),
    code: bounded(reportedCode(error), CODE_MAX),
    message: bounded(messageOf(error), MESSAGE_MAX),
  };
}
