/**
 * The scope tag an intermediate carries from its production resource, so
 * the vault can judge a tag scope on the intermediate it describes anyway
 * instead of reading the resource's tags again (one request per artifact).
 *
 * The agent has just read the resource's tags to judge scope when it
 * requests the intermediate; when they carry its tag scope, it writes the
 * scope tag's key and value onto the intermediate in the copy request's own
 * `Tags` (no request of its own) under two keys of its own,
 * {@link TAG_SCOPE_KEY} and {@link TAG_SCOPE_VALUE}, never under the scope
 * tag's own key. A production snapshot's own tag of that key (which RDS
 * copies from the DB instance when it takes the snapshot, and which may
 * since disagree with the instance) can then never pass for the agent's
 * reading: the agent's copies never set `CopyTags` and EBS's CopySnapshot
 * copies no tags, `carriedTags` (`./ec2-agent.ts`) does not carry other
 * `bunker:` tags, and the two keys name the scope they were judged against,
 * so a vault with another scope never takes them for its own. Two tags,
 * not one `key=value`: a tag key may hold `=`, and a key of 128 and a value
 * of 256 characters fit both services' limits (key 128, value 256) only
 * apart. Two more of the 50 tags RDS and EC2 allow a resource: an RDS
 * intermediate then holds at most nine of the agent's own, an EBS one ten,
 * with production's tags carried in the room left (`carriedTags`).
 *
 * It grants no trust the resource's tags do not: both are written by the
 * same source account, which can as well tag the resource into scope.
 */
import type { ScopeSetting } from '../settings';

/** On an intermediate: the key of the tag scope its resource was judged in, read from the resource's tags. */
export const TAG_SCOPE_KEY = 'bunker:scope-key';
/** On an intermediate: that tag's value on the resource. */
export const TAG_SCOPE_VALUE = 'bunker:scope-value';

/**
 * The tags the agent writes onto an intermediate of a resource whose
 * `tags` it judged on: the pair only for a tag scope the tags satisfy;
 * nothing for an ids scope, for tags not read, or out of scope.
 */
export function scopeTagsToCarry(
  scope: ScopeSetting | undefined,
  tags: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  if (!scope || !('tag' in scope) || tags?.[scope.tag.key] !== scope.tag.value) return {};
  return { [TAG_SCOPE_KEY]: scope.tag.key, [TAG_SCOPE_VALUE]: scope.tag.value };
}

/** Whether an artifact's own `tags` carry the agent's reading of exactly the tag scope `scope`. */
export function carriesScope(scope: ScopeSetting, tags: Readonly<Record<string, string>>): boolean {
  return 'tag' in scope && tags[TAG_SCOPE_KEY] === scope.tag.key && tags[TAG_SCOPE_VALUE] === scope.tag.value;
}
