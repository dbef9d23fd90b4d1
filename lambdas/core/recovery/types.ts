/**
 * Recovery into a new account: the copies of a lost production account are
 * opened to a recovery account so it can copy them under its own key and
 * restore them. It takes two people: one records a request, another approves
 * it, and only the approval shares anything, because a single compromised
 * principal must not be able to open the backups to an account of its
 * choosing.
 *
 * A request lives in the inventory table next to the copy records, keyed
 * `recovery:<id>` and marked with a `recovery` attribute so the copy
 * inventory's scans pass it by. It records who asked and who approved (as
 * STS reports them), every share made and the KMS grant, so `--revoke` can
 * take back exactly what was given and a re-run after a crash finishes what
 * was started without doing anything twice.
 */
import type { ArtifactKind } from '../../../lib/config/schema';
import type { CallerIdentity } from './identity';

/**
 * One copy chosen for a recovery: the newest the vault holds of one
 * production resource. Snapshot kinds are shared; pulled kinds (parameters,
 * secrets, tables) are restored by `bunker restore` with the operator's own
 * credentials and need no share.
 */
export interface RecoveryCopy {
  readonly kind: ArtifactKind;
  /** The inventory record (`<kind>:<account>:<region>:<id>`). */
  readonly artifactId: string;
  /** The production resource: DB instance, cluster, volume, image, parameter, secret or table name. */
  readonly resource: string;
  /** The production Region the resource lived in. */
  readonly sourceRegion: string;
  /** The copy in the backup account: RDS identifier, `snap-…`, `ami-…`; for a pulled kind the held version's id. */
  readonly copyId: string;
  readonly copyArn?: string;
  /** The backup account's Region the copy is in. */
  readonly copyRegion: string;
  /** 2 for a second-hop copy (`backup.secondRegion`): its drills are its own, not the first hop's. */
  readonly hop?: 2;
  /** An AMI copy's backing snapshots, which must be shared with it. */
  readonly children?: readonly string[];
  /** When production made what was copied (or when the value was last changed, for a pulled kind). */
  readonly takenAt?: string;
  readonly engine?: string;
  readonly sizeGiB?: number;
}

/** One share a recovery makes: a snapshot or image the recovery account gets the right to copy. */
export interface ShareTarget {
  readonly type: 'db-snapshot' | 'cluster-snapshot' | 'ebs-snapshot' | 'image';
  readonly id: string;
  readonly region: string;
}

/** A share's key in a request's `shared` list. */
export const shareKey = (target: ShareTarget) => `${target.type}:${target.region}:${target.id}`;

/**
 * The KMS grant on a backup-data key (one per Region the chosen copies are
 * in): the recovery account's root may use the key for exactly
 * {@link GRANT_OPERATIONS}, until `--revoke` retires it.
 */
export interface RecoveryGrant {
  readonly region: string;
  readonly keyArn: string;
  /** Deterministic (`<prefix>-recovery-<id>`): a retry finds the grant it made instead of making a second. */
  readonly name: string;
  readonly grantee: string;
  readonly operations: readonly string[];
  /** Set once the grant exists. */
  readonly grantId?: string;
}

/**
 * What a cross-account copy of an encrypted snapshot needs on the source key,
 * and nothing more: `DescribeKey` (the copy reads the key's state), `Decrypt`
 * (the data keys of the snapshot are decrypted to be re-encrypted under the
 * recovery account's own key) and `CreateGrant` (RDS and EBS create their own
 * grant, as the caller, for the duration of the copy job). No `Encrypt`,
 * `GenerateDataKey*` or `ReEncrypt*`: nothing is ever written under the
 * backup-data key by the recovery account.
 */
export const GRANT_OPERATIONS = ['Decrypt', 'DescribeKey', 'CreateGrant'] as const;

/**
 * - `pending`: recorded, nothing shared; waits for another identity's approval.
 * - `approved`: approved; shares and grants are being made (a re-run finishes them).
 * - `open`: every share and grant exists.
 * - `revoked`: every share and grant taken back (or a pending request withdrawn).
 */
export type RecoveryState = 'pending' | 'approved' | 'open' | 'revoked';

export interface RecoveryRequest {
  /** `recovery:<id>`. */
  readonly artifactId: string;
  /** Marks the item as a recovery request: the copy inventory's scans pass it by. */
  readonly recovery: 'request';
  readonly id: string;
  readonly state: RecoveryState;
  /** The lost production account whose copies are opened. */
  readonly account: string;
  readonly toAccount: string;
  readonly toRegion: string;
  /** The filters the copies were chosen with, as given. */
  readonly kindFilter?: ArtifactKind;
  readonly resourceFilter?: string;
  readonly copies: readonly RecoveryCopy[];
  readonly requestedBy: CallerIdentity;
  readonly requestedAt: string;
  /** Set once the alert of the request is published (a crash before it makes the approval send it). */
  readonly requestAlertedAt?: string;
  readonly approvedBy?: CallerIdentity;
  readonly approvedAt?: string;
  readonly approvalAlertedAt?: string;
  /** Shares made so far ({@link shareKey}). */
  readonly shared: readonly string[];
  readonly grants: readonly RecoveryGrant[];
  readonly openedAt?: string;
  readonly revokedBy?: CallerIdentity;
  readonly revokedAt?: string;
  /** Incremented by every write: the condition of optimistic concurrency. */
  readonly version: number;
}

export const recoveryItemId = (id: string) => `recovery:${id}`;

/** Where requests are kept. Every write is conditional; a lost race answers `false`. */
export interface RecoveryRequests {
  get(id: string): Promise<RecoveryRequest | undefined>;
  /** Writes a new request unless one with its id exists. */
  create(request: RecoveryRequest): Promise<boolean>;
  /** Replaces `expected` with `next` only if the stored version is still `expected.version`. */
  replace(expected: RecoveryRequest, next: RecoveryRequest): Promise<boolean>;
  list(): Promise<RecoveryRequest[]>;
}

/** Sharing of the backup account's snapshots and images with one other account. Every call is idempotent. */
export interface CopySharing {
  share(target: ShareTarget, account: string): Promise<void>;
  unshare(target: ShareTarget, account: string): Promise<void>;
}

/** A grant as KMS lists it. */
export interface GrantView {
  readonly grantId: string;
  readonly name?: string;
  readonly grantee?: string;
  readonly operations: readonly string[];
}

/** Grants on the backup-data keys. */
export interface KeyGrants {
  /** The backup-data key of a Region of the backup account (its ARN, resolved from the alias). */
  keyArn(region: string): Promise<string>;
  /** The grants on `keyArn` called `name` (KMS lets names repeat: every one is returned). */
  find(keyArn: string, region: string, name: string): Promise<GrantView[]>;
  create(
    keyArn: string,
    region: string,
    grant: { name: string; grantee: string; operations: readonly string[] },
  ): Promise<string>;
  revoke(keyArn: string, region: string, grantId: string): Promise<void>;
}

/** The vault's alerts topic. */
export interface RecoveryAlerts {
  publish(subject: string, message: string): Promise<void>;
}
