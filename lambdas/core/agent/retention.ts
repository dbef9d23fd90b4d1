/**
 * When the source agent may delete one of its intermediates. Never before
 * the backup account holds its copy (the vault's receipt), except past a
 * hard horizon, which is loud: the caller logs it as an error and counts it
 * in a metric an alarm watches.
 */
/** Set on an intermediate when the vault's receipt says its copy is in the backup account. */
export const TAG_COPIED_AT = 'bunker:copied-at';

/**
 * Set on a production snapshot (or image) when the vault holds the copy of
 * its intermediate: once that intermediate is gone, this is what tells the
 * sweep the original is done. The one change the agent makes to production's
 * own snapshots: a tag, never their data, sharing or life.
 */
export const TAG_BACKED_UP_AT = 'bunker:backed-up-at';

export type IntermediateFate = 'keep' | 'delete-copied' | 'delete-past-horizon';

export interface RetentionSettings {
  /** Kept this long after the vault's receipt. */
  readonly intermediateRetentionHours: number;
  /** Deleted this long after it was made even without a receipt, with an alarm. */
  readonly intermediateHorizonHours: number;
}

const HOUR = 3_600_000;

export function intermediateFate(
  tags: Readonly<Record<string, string>>,
  createdAtMs: number,
  nowMs: number,
  settings: RetentionSettings,
): IntermediateFate {
  const copiedAt = Date.parse(tags[TAG_COPIED_AT] ?? '');
  if (!Number.isNaN(copiedAt) && nowMs - copiedAt >= settings.intermediateRetentionHours * HOUR) return 'delete-copied';
  if (nowMs - createdAtMs >= settings.intermediateHorizonHours * HOUR) return 'delete-past-horizon';
  return 'keep';
}

/** When a confirmed intermediate may go: `intermediateRetentionHours` after its receipt (or after now, if unreadable). */
export function retainedUntil(copiedAt: string, nowMs: number, settings: RetentionSettings): number {
  const at = Date.parse(copiedAt);
  return (Number.isNaN(at) ? nowMs : at) + settings.intermediateRetentionHours * HOUR;
}
