/**
 * What SSM parameters and Secrets Manager secrets share: one immutable
 * object per value version in the vault store, keys that sort by time, and
 * the run that writes new versions, marks failures and deletions, and
 * tallies the summary. The kinds' folders only read their source.
 *
 * Change detection is on the source's version ids (an SSM version number
 * with its modification time, a secret's VersionIds), compared with the
 * inventory record: an unchanged resource costs no value read, no object
 * write and no record write.
 */
import type { RetryLaterError } from '../errors';
import { safeText } from '../text';
import { SecretValue } from './secret-value';
import {
  type HeldVersion,
  PULLED_KIND_OF,
  type PullContext,
  type PulledRecord,
  type PullRunSummary,
  pulledArtifactId,
  pullScopeOf,
} from './types';

/** The pulled kinds whose resources are values (one object per version). */
export type ValueKind = 'ssm' | 'secrets';

export const VALUE_OBJECT_FORMAT = 'bunker-value-v1';

/** How long a throttled run waits before it goes on. */
export const THROTTLED_DELAY_SECONDS = 60;

/** Version ids kept on a record for change detection. */
export const MAX_HELD_VERSION_IDS = 100;

/** One version read from the source, ready to store. */
export interface PulledVersion {
  readonly id: string;
  /** When the source says this version came to be (ISO 8601). */
  readonly modifiedAt: string;
  readonly value: SecretValue;
  /** `String` | `StringList` | `SecureString` (SSM), `string` | `binary` (secrets). */
  readonly valueType: string;
  readonly labels?: readonly string[];
}

/** The stored form of one version: the value and enough to restore it without the inventory. */
export interface ValueObject {
  readonly format: typeof VALUE_OBJECT_FORMAT;
  readonly kind: ValueKind;
  readonly account: string;
  readonly region: string;
  readonly name: string;
  readonly versionId: string;
  readonly modifiedAt: string;
  readonly pulledAt: string;
  readonly valueType: string;
  readonly labels?: readonly string[];
  readonly checksum: string;
  readonly value: SecretValue;
}

/** `2026-03-01T10:20:30.456Z` → `20260301T102030.456Z`: fixed width, so key order is time order. */
export function compactTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a time: ${safeText(iso)}`);
  return date.toISOString().replace(/[-:]/g, '');
}

/** The inverse of {@link compactTime}. */
export function isoOfCompactTime(compact: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(compact);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : undefined;
}

/** Every version of every resource of one kind, account and Region lives under this prefix. */
export const valueScopePrefix = (kind: ValueKind, account: string, region: string) => `${kind}/${account}/${region}/`;

/** Every version of one resource (or, with a partial name, of every resource whose name starts so). */
export const valueNamePrefix = (kind: ValueKind, account: string, region: string, name: string, whole = true) =>
  `${valueScopePrefix(kind, account, region)}${encodeURIComponent(name)}${whole ? '/' : ''}`;

export function valueObjectKey(
  kind: ValueKind,
  account: string,
  region: string,
  name: string,
  modifiedAt: string,
  versionId: string,
): string {
  return `${valueNamePrefix(kind, account, region, name)}${compactTime(modifiedAt)}-${encodeURIComponent(versionId)}.json`;
}

export interface ValueKey {
  readonly kind: ValueKind;
  readonly account: string;
  readonly region: string;
  readonly name: string;
  readonly modifiedAt: string;
  readonly versionId: string;
}

/** The parts of a {@link valueObjectKey}; `undefined` for any other key. */
export function parseValueObjectKey(key: string): ValueKey | undefined {
  const m = /^(ssm|secrets)\/(\d{12})\/([a-z0-9-]+)\/([^/]+)\/(\d{8}T\d{6}\.\d{3}Z)-([^/]+)\.json$/.exec(key);
  const modifiedAt = m && isoOfCompactTime(m[5]);
  if (!m || !modifiedAt) return undefined;
  try {
    return {
      kind: m[1] as ValueKind,
      account: m[2],
      region: m[3],
      name: decodeURIComponent(m[4]),
      modifiedAt,
      versionId: decodeURIComponent(m[6]),
    };
  } catch {
    return undefined;
  }
}

/** The JSON object stored per version; the value in UTF-8 or base64 as it came. */
export function encodeValueObject(object: ValueObject): Uint8Array {
  const { value, ...meta } = object;
  const raw = value.reveal();
  const body = {
    ...meta,
    encoding: typeof raw === 'string' ? 'utf8' : 'base64',
    data: typeof raw === 'string' ? raw : Buffer.from(raw).toString('base64'),
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

export function decodeValueObject(bytes: Uint8Array): ValueObject {
  const body = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  if (body.format !== VALUE_OBJECT_FORMAT || typeof body.data !== 'string') {
    throw new Error(`not a ${VALUE_OBJECT_FORMAT} object`);
  }
  const { encoding, data, ...meta } = body;
  const value = encoding === 'base64' ? SecretValue.binary(Buffer.from(data, 'base64')) : SecretValue.text(data);
  return { ...(meta as Omit<ValueObject, 'value'>), value };
}

/** What the source says of one resource before any value is read. */
export interface SourceResource {
  readonly name: string;
  readonly arn?: string;
  readonly valueType?: string;
}

/** Record fields a new state clears. */
type Cleared = 'reason' | 'deletedAt';

function without(record: PulledRecord, keys: readonly Cleared[]): PulledRecord {
  const copy: Record<string, unknown> = { ...record };
  for (const key of keys) delete copy[key];
  return copy as unknown as PulledRecord;
}

/** Why a call failed, in words safe for a record or a log line (AWS errors name the resource, never its value). */
export function failureReason(error: unknown): string {
  const e = error as { name?: string; message?: string };
  return safeText(`${e?.name ?? 'Error'}: ${e?.message ?? String(error)}`, 240);
}

/**
 * One run of a value kind in one account and Region: holds the kind's
 * records (one index query), writes what changed, and tallies the summary.
 */
export class ValueRun {
  readonly kindName: (typeof PULLED_KIND_OF)[ValueKind];
  private readonly startedAt: string;
  private readonly records = new Map<string, PulledRecord>();
  private readonly seen = new Set<string>();
  private tally = { inScope: 0, changed: 0, unchanged: 0, deleted: 0, failed: 0, dataWrites: 0 };
  private continued = false;
  private throttled = false;
  private skipped = false;

  private constructor(
    private readonly ctx: PullContext,
    readonly kind: ValueKind,
  ) {
    this.kindName = PULLED_KIND_OF[kind];
    this.startedAt = ctx.clock.now().toISOString();
  }

  static async start(ctx: PullContext, kind: ValueKind): Promise<ValueRun> {
    const run = new ValueRun(ctx, kind);
    const { account, region } = ctx.job;
    for (const record of await ctx.records.listScope(run.kindName, account, region)) {
      run.records.set(record.sourceId, record);
    }
    return run;
  }

  /** The record of `name`, as this run last wrote or read it. */
  recordOf(name: string): PulledRecord | undefined {
    return this.records.get(name);
  }

  /** Counts a resource in scope; every in-scope resource goes through here once. */
  inScope(name: string): void {
    this.seen.add(name);
    this.tally.inScope += 1;
  }

  unchanged(): void {
    this.tally.unchanged += 1;
  }

  /**
   * Whether the run should stop reading: past its deadline, or the source
   * kept throttling past the SDK's own retries. The caller stops and
   * {@link continueLater}s: throttling delays a run, it never fails a resource.
   */
  shouldStop(): boolean {
    if (this.throttled || this.ctx.clock.now().getTime() >= this.ctx.deadline) this.skipped = true;
    return this.skipped;
  }

  /** Whether work was left undone (a {@link shouldStop} said so): the caller must {@link continueLater}. */
  get stoppedEarly(): boolean {
    return this.skipped || this.throttled;
  }

  /** The source answered "slow down" even after the SDK's adaptive retries: the rest waits for a new invocation. */
  throttledBy(error: RetryLaterError): void {
    if (!this.throttled) {
      this.ctx.log.warn('pull source throttled, continuing later', {
        kind: this.kind,
        reason: failureReason(error),
      });
    }
    this.throttled = true;
  }

  /** Queues the rest of the job; what was not reached is found changed again next time. */
  async continueLater(): Promise<void> {
    this.continued = true;
    this.ctx.log.warn('pull run stopped early, continuing in a new invocation', {
      kind: this.kind,
      account: this.ctx.job.account,
      region: this.ctx.job.region,
    });
    await this.ctx.continueLater(this.ctx.job, this.throttled ? THROTTLED_DELAY_SECONDS : 0);
  }

  /**
   * Stores the versions not held yet (one object each, never overwritten)
   * and writes the record: `held`, its newest version `latestId`.
   */
  async store(resource: SourceResource, versions: readonly PulledVersion[], latestId: string): Promise<void> {
    const { account, region } = this.ctx.job;
    const now = this.ctx.clock.now().toISOString();
    const existing = this.records.get(resource.name);
    const heldIds = [...(existing?.heldVersionIds ?? [])];
    let latest = existing?.latest;
    let added = 0;
    for (const version of versions) {
      const objectKey = valueObjectKey(this.kind, account, region, resource.name, version.modifiedAt, version.id);
      const checksum = this.ctx.fingerprint.of(version.value.bytes());
      const object: ValueObject = {
        format: VALUE_OBJECT_FORMAT,
        kind: this.kind,
        account,
        region,
        name: resource.name,
        versionId: version.id,
        modifiedAt: version.modifiedAt,
        pulledAt: now,
        valueType: version.valueType,
        ...(version.labels ? { labels: [...version.labels] } : {}),
        checksum,
        value: version.value,
      };
      // A retried run finds its object already there: held, not written twice.
      const written = await this.ctx.store.putOnce(objectKey, encodeValueObject(object), 'application/json');
      if (written) this.tally.dataWrites += 1;
      // A new object is a new version even under a known id (SSM starts again at 1 for a name made again).
      if (written || !heldIds.includes(version.id)) added += 1;
      if (!heldIds.includes(version.id)) heldIds.push(version.id);
      if (version.id === latestId) {
        latest = {
          id: version.id,
          modifiedAt: version.modifiedAt,
          pulledAt: now,
          objectKey,
          checksum,
          ...(version.labels ? { labels: [...version.labels] } : {}),
        } satisfies HeldVersion;
      }
    }
    const valueType = versions.find((v) => v.id === latestId)?.valueType ?? resource.valueType;
    const fields = {
      state: 'held' as const,
      ...(resource.arn ? { sourceArn: resource.arn } : {}),
      ...(valueType ? { valueType } : {}),
      count: (existing?.count ?? 0) + added,
      ...(latest ? { latest, checksum: latest.checksum } : {}),
      heldVersionIds: heldIds.slice(-MAX_HELD_VERSION_IDS),
      lastChangedAt: now,
      updatedAt: now,
    };
    const next: PulledRecord = existing
      ? { ...without(existing, ['reason', 'deletedAt']), ...fields, version: existing.version + 1 }
      : {
          ...this.newRecord(resource.name, now),
          ...fields,
          firstPulledAt: now,
        };
    if (await this.write(existing, next)) this.tally.changed += 1;
  }

  /** Marks a resource `failed` with its reason; the backup it had stays. No write when already so. */
  async fail(resource: SourceResource, reason: string): Promise<void> {
    this.tally.failed += 1;
    const existing = this.records.get(resource.name);
    this.ctx.log.warn('pulled resource failed', { kind: this.kind, name: safeText(resource.name), reason });
    if (existing?.state === 'failed' && existing.reason === reason) return;
    const now = this.ctx.clock.now().toISOString();
    const next: PulledRecord = existing
      ? { ...without(existing, ['deletedAt']), state: 'failed', reason, updatedAt: now, version: existing.version + 1 }
      : {
          ...this.newRecord(resource.name, now),
          ...(resource.arn ? { sourceArn: resource.arn } : {}),
          ...(resource.valueType ? { valueType: resource.valueType } : {}),
          state: 'failed',
          reason,
        };
    await this.write(existing, next);
  }

  /** Marks `name` deleted at the source at the time first seen missing; its versions stay in the store. */
  async markDeleted(name: string): Promise<void> {
    const existing = this.records.get(name);
    if (!existing || existing.state === 'deleted-at-source') return;
    const now = this.ctx.clock.now().toISOString();
    const next: PulledRecord = {
      ...without(existing, ['reason']),
      state: 'deleted-at-source',
      deletedAt: now,
      updatedAt: now,
      version: existing.version + 1,
    };
    if (await this.write(existing, next)) this.tally.deleted += 1;
  }

  /**
   * Marks every record of the scope not seen at the source this run as
   * deleted. Call only after a complete listing of the source: `present`
   * holds every name the source has, in scope or not (a resource that left
   * the scope is not deleted, only no longer pulled).
   */
  async markMissing(present: ReadonlySet<string>): Promise<void> {
    for (const name of [...this.records.keys()]) {
      if (!present.has(name) && !this.seen.has(name)) await this.markDeleted(name);
    }
  }

  summary(): PullRunSummary {
    const { job } = this.ctx;
    const { changed, deleted, dataWrites } = this.tally;
    return {
      kind: this.kind,
      account: job.account,
      region: job.region,
      startedAt: this.startedAt,
      finishedAt: this.ctx.clock.now().toISOString(),
      ...this.tally,
      // Failures are counted apart: a resource that still fails is not a change.
      nothingChanged: changed === 0 && deleted === 0 && dataWrites === 0,
      continued: this.continued,
      breaches: [],
    };
  }

  private newRecord(name: string, now: string): PulledRecord {
    const { account, region } = this.ctx.job;
    return {
      artifactId: pulledArtifactId(this.kindName, account, region, name),
      kind: this.kindName,
      pullScope: pullScopeOf(this.kindName, account, region),
      state: 'held',
      sourceAccount: account,
      sourceRegion: region,
      sourceId: name,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
  }

  /** One conditional write; a lost race is logged and left to the next run, which sees the winner's record. */
  private async write(existing: PulledRecord | undefined, next: PulledRecord): Promise<boolean> {
    const written = existing ? await this.ctx.records.replace(existing, next) : await this.ctx.records.create(next);
    if (written) {
      this.records.set(next.sourceId, next);
    } else {
      this.ctx.log.warn('pulled record changed meanwhile, left to the next run', {
        kind: this.kind,
        name: safeText(next.sourceId),
      });
    }
    return written;
  }
}

/** Runs `work` over `items`, at most `limit` at a time, in order of start. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
