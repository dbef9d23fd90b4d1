/**
 * Which parameters and secrets a pull takes: the kind's `scope` (a tag, or
 * a list of names) and, when set, its name prefixes (`artifacts.ssm.paths`,
 * `artifacts.secrets.namePrefixes`). A resource is in scope only when it
 * matches every rule that is set, so a prefix narrows a tag scope and never
 * widens it.
 */
import type { ScopeSetting } from '../settings';

export interface PulledScope {
  readonly scope: ScopeSetting;
  /** Name prefixes; unset or empty means every name. */
  readonly prefixes?: readonly string[];
}

/** What the scope knows of one resource: its name, its ARN when the source gave one, and its tags. */
export interface ScopedResource {
  readonly name: string;
  readonly arn?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export function pulledInScope(rules: PulledScope, resource: ScopedResource): boolean {
  const { scope, prefixes } = rules;
  if (prefixes && prefixes.length > 0 && !prefixes.some((prefix) => resource.name.startsWith(prefix))) return false;
  if ('ids' in scope) return scope.ids.some((id) => id === resource.name || id === resource.arn);
  return resource.tags[scope.tag.key] === scope.tag.value;
}
