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
 * Only "out of scope" is remembered (an in-scope original gets an
 * intermediate and is not looked at again), keyed by the resource and the
 * original's own tags (which the listing returns for nothing, and which can
 * override the resource's): retagging the snapshot itself is seen at once.
 * What the cache cannot see is a change of the resource's own tags; the TTL
 * bounds how long that goes unseen. Events never read the cache: a snapshot
 * event always reads the resource's tags afresh and corrects the cache, so
 * a resource tagged into scope is copied from its next snapshot on; only an
 * original whose event was lost waits up to the TTL for the sweep.
 *
 * In the container on purpose: a DynamoDB table in each source account is
 * not wanted, and a tag on production's snapshots would be a write per
 * original. A cold container starts empty and pays one read per resource,
 * which is the cost without the cache.
 */

/** How long an out-of-scope verdict is trusted by the sweep. */
export const SCOPE_CACHE_TTL_MS = 6 * 3_600_000;

/** The verdicts of one store (one account, Region and kind): resource → original's tags → until when. */
export class ScopeCache {
  private readonly verdicts = new Map<string, Map<string, number>>();

  /** Whether `resource` with an original carrying `tags` was judged out of scope less than the TTL ago. */
  knownOutOfScope(resource: string, tags: Readonly<Record<string, string>>, now: number): boolean {
    const until = this.verdicts.get(resource)?.get(fingerprint(tags));
    return until !== undefined && now < until;
  }

  /** Records a fresh verdict: out of scope is remembered, in scope forgets every verdict on the resource. */
  judged(resource: string, tags: Readonly<Record<string, string>>, inScope: boolean, now: number): void {
    if (inScope) {
      this.verdicts.delete(resource);
      return;
    }
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
