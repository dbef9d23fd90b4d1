/**
 * `--rewrite OLD=NEW` for restores: a restored value often names where it
 * came from (an account id, a Region, an ARN, an endpoint, a host name) and
 * must name where it goes. Plain text replacement, every occurrence, in the
 * order given; no patterns, so what is replaced is exactly what was typed.
 */
import { SecretValue } from '../secret-value';

export interface Rewrite {
  readonly from: string;
  readonly to: string;
}

/** Parses `OLD=NEW` (the first `=` splits; NEW may be empty or hold `=`). An empty OLD is refused. */
export function parseRewrite(text: string): Rewrite {
  const at = text.indexOf('=');
  if (at < 0) throw new Error(`a rewrite is OLD=NEW, got "${text}"`);
  const from = text.slice(0, at);
  if (from.length === 0) throw new Error(`a rewrite needs a non-empty OLD, got "${text}"`);
  return { from, to: text.slice(at + 1) };
}

export function parseRewrites(texts: readonly string[]): Rewrite[] {
  return texts.map(parseRewrite);
}

/** `text` with every rewrite applied in turn. */
export function rewriteText(text: string, rewrites: readonly Rewrite[]): string {
  return rewrites.reduce((acc, { from, to }) => acc.split(from).join(to), text);
}

/**
 * The value with the rewrites applied. Binary values are left as they are:
 * replacing bytes inside an unknown binary format would corrupt it.
 */
export function rewriteValue(value: SecretValue, rewrites: readonly Rewrite[]): SecretValue {
  if (rewrites.length === 0 || value.form === 'binary') return value;
  return SecretValue.text(rewriteText(value.reveal() as string, rewrites));
}
