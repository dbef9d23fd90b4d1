/**
 * Text that came from outside (a message, an AWS error that echoes input)
 * on its way into a reason, a log field or a terminal: control characters
 * (which can retitle or clear a terminal) and bidirectional overrides
 * (which can make text read differently than it is) become visible escapes,
 * and the length is bounded.
 */

// C0 and C1 controls, DEL, and the Unicode bidirectional embeddings, overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point of this pattern.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every unsafe character shown as `\uXXXX`, cut to `max` characters with an ellipsis. */
export function safeText(text: string, max = 120): string {
  const escaped = text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, Math.max(0, max - 1))}…` : escaped;
}

/** Whether `text` holds a character {@link safeText} would escape. */
export function hasUnsafeText(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return found;
}
