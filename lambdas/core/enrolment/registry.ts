/**
 * The vault's {@link SourceRegistry}: the configuration's listed sources,
 * then the active enrolments of the organizational units. An enrolment is
 * read from the inventory table once and kept for a short while, so a batch
 * of notifications from one account costs one read, and an account that
 * joined or left is seen within that while.
 */
import type { Clock, SourceRegistry } from '../ports';
import type { RegisteredSource } from '../settings';
import { type Enrolments, registeredOf } from './types';

/** How long a lookup of an enrolment (found or not) is reused: about one Lambda invocation. */
export const REGISTRY_CACHE_MS = 60_000;

/** Only the listed sources: the registry of a vault that covers no organizational unit. */
export function listedSources(sources: readonly RegisteredSource[]): SourceRegistry {
  return {
    source: async (account) => sources.find((s) => s.account === account),
    all: async () => sources,
  };
}

export class EnrolledSourceRegistry implements SourceRegistry {
  private readonly cache = new Map<string, { readonly at: number; readonly source?: RegisteredSource }>();
  private everyone?: { readonly at: number; readonly sources: readonly RegisteredSource[] };

  constructor(
    private readonly listed: readonly RegisteredSource[],
    private readonly enrolments: Pick<Enrolments, 'get' | 'list'>,
    private readonly clock: Clock,
    private readonly cacheMs = REGISTRY_CACHE_MS,
  ) {}

  async source(account: string): Promise<RegisteredSource | undefined> {
    const listed = this.listed.find((s) => s.account === account);
    if (listed) return listed;
    const now = this.clock.now().getTime();
    const cached = this.cache.get(account);
    if (cached && now - cached.at < this.cacheMs) return cached.source;
    const record = await this.enrolments.get(account);
    const source = record?.enrolment === 'active' ? registeredOf(record) : undefined;
    this.cache.set(account, { at: now, ...(source ? { source } : {}) });
    return source;
  }

  async all(): Promise<readonly RegisteredSource[]> {
    const now = this.clock.now().getTime();
    if (this.everyone && now - this.everyone.at < this.cacheMs) return this.everyone.sources;
    const listedAccounts = new Set(this.listed.map((s) => s.account));
    const enrolled = (await this.enrolments.list())
      .filter((record) => record.enrolment === 'active' && !listedAccounts.has(record.account))
      .sort((a, b) => a.account.localeCompare(b.account))
      .map(registeredOf);
    const sources = [...this.listed, ...enrolled];
    this.everyone = { at: now, sources };
    return sources;
  }
}
