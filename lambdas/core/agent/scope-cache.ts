/**
 * The agents' memory of originals judged out of scope, per container.
 *
 * Judging an original's scope reads its resource's tags (a DB instance's, a
 * cluster's, a volume's): one request per original the sweep looks at, and
 * the hourly sweep looks at every original made within the horizon that has
 * no intermediate, which for an out-of-scope original is all of them, every
 * hour, for the whole horizon. Remembering the verdict for a while turns
 * that into one request per resource per {@link SCOPE_CACHE_TTL_MS}.
 *
 * "Out of scope" is remembered for the sweep, keyed by the resource and the
 * original's own tags (which the listing returns for nothing, and which can
 * override the resource's): retagging the snapshot itself is seen at once.
 * What the cache cannot see is a change of the resource's own tags; the TTL
 * bounds how long that goes unseen. Events never read that verdict: a
 * snapshot event reads the resource's tags afresh and corrects the cache, so
 * a resource tagged into scope is copied from its next snapshot on; only an
 * original whose event was lost waits up to the TTL for the sweep.
 *
 * "In scope" is remembered too, with the resource's tags it was judged on,
 * but only for {@link IN_SCOPE_REUSE_MS}: in a burst a database's snapshots
 * come minutes apart (a cluster's instances, a volume's hourly snapshots held
 * back at the cap and started one by one), and each would read the same
 * tags again. Any judge (event or sweep) reuses a verdict that recent. A
 * resource tagged out of scope is therefore seen up to ten minutes late: at
 * most the originals taken in those minutes are copied, which is the safe
 * side for a backup. An out-of-scope verdict forgets the in-scope one.
 *
 * In the container on purpose: a DynamoDB table in each source account is
 * not wanted, and a tag on production's snapshots would be a write per
 * original. A cold container starts empty and pays one read per resource,
 * which is the cost without the cache.
 */

/** How long an out-of-scope verdict is trusted by the sweep. */
export const SCOPE_CACHE_TTL_MS = 6 * 3_600_000;

/** How long an in-scope verdict (and the resource's tags it was judged on) is reused by any judge. */
export const IN_SCOPE_REUSE_MS = 10 * 60_000;

/**
 * The verdicts of one store (one account, Region and kind): out of scope,
 * resource → original's tags → until when; in scope, resource → the
 * resource's tags and when they were read.
 */
export class ScopeCache {
  private readonly verdicts = new Map<string, Map<string, number>>();
  private readonly inScope = new Map<
    string,
    { readonly tags: Readonly<Record<string, string>>; readonly at: number }
  >();

  /** Whether `resource` with an original carrying `tags` was judged out of scope less than the TTL ago. */
  knownOutOfScope(resource: string, tags: Readonly<Record<string, string>>, now: number): boolean {
    const until = this.verdicts.get(resource)?.get(fingerprint(tags));
    return until !== undefined && now < until;
  }

  /** The resource's tags, when it was judged in scope on them less than {@link IN_SCOPE_REUSE_MS} ago. */
  recentInScope(resource: string, now: number): Readonly<Record<string, string>> | undefined {
    const found = this.inScope.get(resource);
    if (!found) return undefined;
    if (now - found.at < IN_SCOPE_REUSE_MS && now >= found.at) return found.tags;
    this.inScope.delete(resource);
    return undefined;
  }

  /**
   * Records a fresh verdict. Out of scope is remembered and forgets the
   * in-scope verdict; in scope forgets every out-of-scope verdict on the
   * resource and, given the resource's own tags freshly read, keeps them for
   * {@link recentInScope} (a verdict on reused tags does not extend their
   * time: a resource's tags are read at least every ten minutes in use).
   */
  judged(
    resource: string,
    tags: Readonly<Record<string, string>>,
    inScope: boolean,
    now: number,
    resourceTags?: Readonly<Record<string, string>>,
  ): void {
    if (inScope) {
      this.verdicts.delete(resource);
      if (resourceTags) this.inScope.set(resource, { tags: resourceTags, at: now });
      return;
    }
    this.inScope.delete(resource);
    let byTags = this.verdicts.get(resource);
    if (!byTags) this.verdicts.set(resource, (byTags = new Map()));
    byTags.set(fingerprint(tags), now + SCOPE_CACHE_TTL_MS);
  }
}

/** A tag set as a key: order-free. Held in memory only, never logged. */
function fingerprint(tags: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(tags).sort(([a], [b]) => a.localeCompare(b)));
}

const caches = new WeakMap<object, Map<string, ScopeCache>>();

/** The cache of one store object (the agent's port in one account and Region) for one kind. */
export function scopeCacheOf(store: object, kind: string): ScopeCache {
  let byKind = caches.get(store);
  if (!byKind) caches.set(store, (byKind = new Map()));
  let cache = byKind.get(kind);
  if (!cache) byKind.set(kind, (cache = new ScopeCache()));
  return cache;
}

/** One read per key for as long as the returned function is kept (one sweep): a resource's originals share its tags. */
export function memo<T>(read: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const seen = new Map<string, Promise<T>>();
  return (key) => {
    let found = seen.get(key);
    if (!found) {
      found = read(key);
      seen.set(key, found);
    }
    return found;
  };
}
