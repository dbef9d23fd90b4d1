/**
 * Scope: which production resources Bunker backs up. The same rule serves
 * the source agent (what to share) and the vault (what to accept), each
 * judging on what the service reports, never on a message.
 */
import type { ScopeSetting } from './settings';

/**
 * In scope when one of `ids` (the resource's or the snapshot's identifiers)
 * is listed, or, for a tag scope, when `tags` carry the tag.
 */
export function inScope(scope: ScopeSetting, ids: readonly string[], tags: Readonly<Record<string, string>>): boolean {
  if ('ids' in scope) return ids.some((id) => scope.ids.includes(id));
  return tags[scope.tag.key] === scope.tag.value;
}

/** The scope in words, for a rejection reason. */
export function describeScope(scope: ScopeSetting): string {
  return 'ids' in scope ? `the configured ids (${scope.ids.length})` : `the tag ${scope.tag.key}=${scope.tag.value}`;
}
