/**
 * A parameter or secret value: a type of its own that never shows itself.
 * `String(v)`, template literals, `JSON.stringify`, `util.inspect` (and so
 * `console.log` and Powertools Logger) all print {@link REDACTED}; only
 * {@link SecretValue.reveal} returns the value, and only the code that
 * stores or restores it calls that.
 */
import { inspect } from 'node:util';

export const REDACTED = '[redacted]';

export class SecretValue {
  readonly #value: string | Uint8Array;

  private constructor(value: string | Uint8Array) {
    this.#value = value;
  }

  static text(value: string): SecretValue {
    return new SecretValue(value);
  }

  static binary(value: Uint8Array): SecretValue {
    return new SecretValue(Uint8Array.from(value));
  }

  /** `string` or `binary`: never the value. */
  get form(): 'string' | 'binary' {
    return typeof this.#value === 'string' ? 'string' : 'binary';
  }

  /** The value itself. Call it only to store, restore or fingerprint it; never to log it. */
  reveal(): string | Uint8Array {
    return this.#value;
  }

  /** The value as bytes (UTF-8 for text), for fingerprints and storage. */
  bytes(): Uint8Array {
    return typeof this.#value === 'string' ? new TextEncoder().encode(this.#value) : this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}
