/** Base of every error Bunker raises on purpose; the name is the subclass's. */
export class BunkerError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A copy quota (or throttling) answered "not now". Back-pressure, not failure:
 * the work is kept and tried again later, never dropped.
 */
export class CopyQuotaExceededError extends BunkerError {}

/** The work cannot go on yet (for example the source snapshot is still being created): retry later. */
export class RetryLaterError extends BunkerError {}

/** A runtime setting (environment variable) is missing or malformed: fail at cold start. */
export class SettingsError extends BunkerError {}

/**
 * AWS refused a copy for a reason retrying will not fix (the source is gone
 * or no longer shared, the key is not usable): the record becomes `failed`.
 */
export class CopyRefusedError extends BunkerError {}
