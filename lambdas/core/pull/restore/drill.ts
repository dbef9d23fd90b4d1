/**
 * Drills of the pulled kinds: the vault's own copy of a parameter, a secret
 * or a table, proven to restore (`DrillModule`, `lambdas/core/drill/types.ts`).
 *
 * Parameters and secrets are restored by decrypting them: nothing is written
 * into any account, because a drill that wrote a production secret into a
 * parameter of the backup account would put it where more principals read
 * it. The drill reads the held version as a restore would (the current
 * version of its object, under the backup-data key), recomputes its
 * fingerprint and compares it with the inventory's, and checks what a
 * restore cannot see: that the object was written once (an attacker with the
 * bucket can add a version over it, never remove the first) and that it is
 * under the backup-data key.
 *
 * A table is restored into a new table of the backup account, under the
 * backup-data key and tagged with the drill, loaded from the held dump in
 * chunks: one chunk a `progress` call, its position kept in a tag of the drill
 * table (the port gives `progress` no way to hand back a new handle), so a
 * dump larger than one Lambda call loads across several. Then it is read
 * back and compared item by item (count and the order-free checksum) with
 * the dumps and the inventory, and its key with the backup-data key.
 */
import { hash } from '../../../kinds/shared';
import type { DrillCheck, DrillKind, DrillModule, DrillSubject, RestoreProgress } from '../../drill/types';
import { sameKmsKey } from '../../keys';
import { safeText } from '../../text';
import { ItemsChecksum } from '../dynamodb/checksum';
import { type DumpManifest, manifestKey } from '../dynamodb/manifest';
import type { Item, TableSpec, TableTarget } from '../dynamodb/types';
import type { Fingerprint, PulledInventory, PulledRecord, VaultStore } from '../types';
import {
  decodeValueObject,
  eachLimited,
  failureReason,
  parseValueObjectKey,
  type ValueKind,
  valueNamePrefix,
} from '../values';
import { chainAt, replay, specDifferences, tableDumps } from './tables';

/** What S3 says of one object of the vault store, besides its bytes. */
export interface VaultObjectFacts {
  /** The KMS key the current version is encrypted under (S3's `SSEKMSKeyId`), when SSE-KMS. */
  readonly kmsKeyId?: string;
  /** How many versions the key has: one, unless something wrote over it. */
  readonly versions: number;
}

/** Reads {@link VaultObjectFacts}; `undefined` when the object does not exist. */
export interface VaultObjectInspector {
  facts(key: string): Promise<VaultObjectFacts | undefined>;
}

/** A drill table as DynamoDB describes it. */
export interface DrillTable {
  /** `CREATING`, `ACTIVE`, `DELETING`, … */
  readonly status: string;
  /** The KMS key of its encryption at rest (`SSEDescription.KMSMasterKeyArn`). */
  readonly kmsKeyArn?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The backup account's DynamoDB, as a table drill uses it. */
export interface DrillTables extends Pick<TableTarget, 'batchPut' | 'scanAll' | 'describeTable'> {
  /**
   * Starts creating `name` from `spec` under `kmsKeyArn` with `tags`, and does
   * not wait: on demand, with the key schema and indexes only (no stream, TTL
   * or point-in-time recovery: a drill table lives minutes). An existing
   * table answers `false`, nothing made.
   */
  create(name: string, spec: TableSpec, kmsKeyArn: string, tags: Readonly<Record<string, string>>): Promise<boolean>;
  /** Its state, key and tags (its keys and indexes: `describeTable`); `undefined` once the table is gone. */
  describe(name: string): Promise<DrillTable | undefined>;
  tag(name: string, tags: Readonly<Record<string, string>>): Promise<void>;
  /** Starts deleting; a table already gone is no error. */
  delete(name: string): Promise<void>;
}

export interface PulledDrillDeps {
  /** The name prefix of the deployment (`config.name`). */
  readonly prefix: string;
  /** The backup-data key: what every held object and every drill table must be under. */
  readonly backupKeyArn: string;
  readonly store: VaultStore;
  readonly records: Pick<PulledInventory, 'get'>;
  /** The vault's fingerprint key, read when first needed (`readFingerprint`). */
  fingerprint(): Promise<Fingerprint>;
  readonly objects: VaultObjectInspector;
}

export interface TableDrillDeps extends PulledDrillDeps {
  readonly tables: DrillTables;
  /** Items loaded per `progress` call. @default {@link LOAD_ITEMS_PER_STEP} */
  readonly itemsPerStep?: number;
  /** Waits between resends of unprocessed items. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The drill a table belongs to: only a table carrying it is ever deleted by a drill. */
export const TAG_DRILL = 'bunker:drill';
/** How many items of the dump the drill table holds so far: the load's position. */
export const TAG_DRILL_LOADED = 'bunker:drill-loaded';
/**
 * Items loaded per `progress` call: about 2,000 BatchWriteItem calls, a
 * minute or two at most, far inside one Lambda call even when throttled.
 */
export const LOAD_ITEMS_PER_STEP = 50_000;
const BATCH = 25;
const CONCURRENCY = 8;
const RESENDS = 5;

/** The drill table of a drill: `<prefix>-drill-<12 hex digits of the drill id's SHA-256>`. */
export const drillTableName = (prefix: string, drillId: string) => `${prefix}-drill-${hash(drillId, 12)}`;

const check = (name: string, ok: boolean, detail: string): DrillCheck => ({ name, ok, detail });
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function recordOf(deps: PulledDrillDeps, subject: DrillSubject): Promise<PulledRecord> {
  const record = await deps.records.get(subject.artifactId);
  if (!record) throw new Error(`the inventory has no record ${safeText(subject.artifactId)}`);
  return record;
}

/** The `key` check of an object of the vault store. */
function keyCheck(facts: VaultObjectFacts, backupKeyArn: string, what: string): DrillCheck {
  return check(
    'key',
    sameKmsKey(facts.kmsKeyId, backupKeyArn),
    sameKmsKey(facts.kmsKeyId, backupKeyArn)
      ? `${what} is encrypted under the backup-data key`
      : `${what} is encrypted under ${facts.kmsKeyId ? safeText(facts.kmsKeyId) : 'no KMS key'}, not the backup-data key ${backupKeyArn}`,
  );
}

function writtenOnceCheck(facts: VaultObjectFacts, what: string): DrillCheck {
  return check(
    'written once',
    facts.versions === 1,
    facts.versions === 1
      ? `${what} has one version, as written by the pull`
      : `${what} has ${facts.versions} versions: something wrote over what the pull wrote (a restore reads the newest)`,
  );
}

/**
 * The drill of SSM parameters or secrets (`kind`): nothing to wait for, so
 * `start` and `progress` answer at once and `validate` does the work.
 */
export function valueDrillModule(kind: Extract<DrillKind, 'ssm' | 'secrets'>, deps: PulledDrillDeps): DrillModule {
  return {
    kind,
    start: async (_drillId, subject) => ({ objectKey: subject.copyId }),
    progress: async (): Promise<RestoreProgress> => ({
      state: 'usable',
      detail: 'values restore by decryption: nothing to wait for',
    }),
    validate: (handle, subject) => validateValue(kind, deps, handle.objectKey ?? subject.copyId, subject),
    tearDown: async () => true,
  };
}

async function validateValue(
  kind: ValueKind,
  deps: PulledDrillDeps,
  objectKey: string,
  subject: DrillSubject,
): Promise<DrillCheck[]> {
  const record = await recordOf(deps, subject);
  const parsed = parseValueObjectKey(objectKey);
  if (!parsed || parsed.kind !== kind || parsed.name !== subject.resource || parsed.account !== subject.account) {
    return [
      check('engine answers', false, `${safeText(objectKey)} is not a held version of ${safeText(subject.resource)}`),
    ];
  }
  const facts = await deps.objects.facts(objectKey);
  const body = facts && (await deps.store.get(objectKey));
  if (!facts || !body)
    return [check('engine answers', false, `the vault store has no object at ${safeText(objectKey)}`)];
  let object;
  try {
    object = decodeValueObject(body);
  } catch (error) {
    return [check('engine answers', false, `the held object is unreadable: ${failureReason(error)}`)];
  }
  const checks: DrillCheck[] = [check('engine answers', true, 'the held object decrypts and decodes')];

  // The inventory keeps the newest version's fingerprint; an older one is checked against its object's own,
  // which nobody can forge without the fingerprint key, and the "written once" check says whether it was replaced.
  const newest = record.latest?.objectKey === objectKey;
  const expected = newest ? record.latest?.checksum : object.checksum;
  const actual = (await deps.fingerprint()).of(object.value.bytes());
  checks.push(
    check(
      'checksum',
      actual === expected && object.checksum === expected,
      actual === expected && object.checksum === expected
        ? `the value's fingerprint equals ${newest ? "the inventory's" : "its object's (the inventory keeps only the newest version's)"}`
        : `the value's fingerprint differs from ${newest ? "the inventory's" : "its object's"}: the held version is not what was pulled`,
    ),
  );

  const held = await deps.store.list(valueNamePrefix(kind, subject.account, subject.region, subject.resource));
  const versions = held.filter((o) => parseValueObjectKey(o.key) !== undefined).length;
  const pulled = record.count ?? 0;
  const listed = record.heldVersionIds === undefined || record.heldVersionIds.includes(object.versionId);
  const labels = (list?: readonly string[]) => [...(list ?? [])].sort().join(',');
  const labelsOk = !newest || labels(object.labels) === labels(record.latest?.labels);
  checks.push(
    check(
      'count',
      versions >= 1 && versions <= pulled && listed && labelsOk,
      [
        `${plural(versions, 'version')} in the store, ${pulled} pulled by the inventory's count`,
        listed
          ? `version ${safeText(object.versionId)} is one the record holds`
          : `version ${safeText(object.versionId)} is not one the record holds`,
        ...(newest ? [labelsOk ? 'its labels are as recorded' : 'its labels differ from the record'] : []),
      ].join('; '),
    ),
  );
  checks.push(keyCheck(facts, deps.backupKeyArn, 'the held object'));
  checks.push(writtenOnceCheck(facts, 'the held object'));
  return checks;
}

/** The dumps a drill of `subject` replays: the chain that ends at the held dump its `copyId` names. */
async function chainOf(deps: PulledDrillDeps, subject: DrillSubject): Promise<DumpManifest[]> {
  const dumps = await tableDumps(deps.store, subject.account, subject.region, subject.resource);
  const held = dumps.find((d) => manifestKey(d.account, d.region, subject.resource, d.dumpId) === subject.copyId);
  if (!held) throw new Error(`the vault store has no finished dump at ${safeText(subject.copyId)}`);
  const at = held.to ?? held.pointInTime;
  const chain = chainAt(dumps, at ? new Date(at) : undefined);
  if (chain.at(-1)?.dumpId !== held.dumpId) {
    throw new Error(`no chain of dumps ends at ${held.dumpId}: the full dump it follows is missing`);
  }
  return chain;
}

/** The items of the held dump, in one fixed order, so every chunk of a load is the same items. */
async function heldItems(deps: PulledDrillDeps, chain: readonly DumpManifest[]): Promise<Item[]> {
  const state = await replay(deps.store, chain);
  return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => item);
}

/** What a drill table must be like: the manifest's keys and indexes, on demand, nothing else. */
function drillSpec(spec: TableSpec, name: string): TableSpec {
  const index = (list: TableSpec['globalIndexes']) => list.map(({ provisioned: _unused, ...rest }) => rest);
  return {
    ...spec,
    name,
    billingMode: 'PAY_PER_REQUEST',
    provisioned: undefined,
    globalIndexes: index(spec.globalIndexes),
    streamViewType: undefined,
    ttlAttribute: undefined,
    pointInTimeRecovery: false,
  };
}

/**
 * The drill of DynamoDB tables: a new table of the backup account, loaded
 * in chunks across `progress` calls, compared, deleted.
 */
export function tableDrillModule(deps: TableDrillDeps): DrillModule {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const perStep = deps.itemsPerStep ?? LOAD_ITEMS_PER_STEP;
  return {
    kind: 'dynamodb',
    async start(drillId, subject) {
      const table = drillTableName(deps.prefix, drillId);
      const chain = await chainOf(deps, subject);
      const spec = drillSpec(chain[chain.length - 1].table, table);
      const made = await deps.tables.create(table, spec, deps.backupKeyArn, {
        [TAG_DRILL]: drillId,
        [TAG_DRILL_LOADED]: '0',
      });
      if (!made) {
        // A retried start finds its own table; a table of that name made by anyone else is never loaded or deleted.
        const existing = await deps.tables.describe(table);
        if (existing && existing.tags[TAG_DRILL] !== drillId) {
          throw new Error(`a table named ${table} exists and is not this drill's`);
        }
      }
      return { table, drillId };
    },

    async progress(handle, subject) {
      const table = await deps.tables.describe(handle.table);
      if (!table) return { state: 'failed', detail: `the drill table ${handle.table} is gone` };
      if (table.status !== 'ACTIVE') return { state: 'pending', detail: `the drill table is ${table.status}` };
      let items: Item[];
      try {
        items = await heldItems(deps, await chainOf(deps, subject));
      } catch (error) {
        return { state: 'failed', detail: `the held dump cannot be read: ${failureReason(error)}` };
      }
      const loaded = Number(table.tags[TAG_DRILL_LOADED] ?? '0');
      if (loaded >= items.length) return { state: 'usable', detail: `${plural(items.length, 'item')} loaded` };
      const chunk = items.slice(loaded, loaded + perStep);
      const batches: Item[][] = [];
      for (let i = 0; i < chunk.length; i += BATCH) batches.push(chunk.slice(i, i + BATCH));
      let left = 0;
      await eachLimited(batches, CONCURRENCY, async (batch) => {
        let pending = batch;
        for (let attempt = 0; pending.length > 0 && attempt <= RESENDS; attempt += 1) {
          if (attempt > 0) await sleep(Math.min(2_000, 50 * 2 ** attempt));
          pending = (await deps.tables.batchPut(handle.table, pending)).unprocessed;
        }
        left += pending.length;
      });
      // Throttled past the resends: the chunk is written again next call (puts are idempotent); it delays, never fails.
      if (left > 0) return { state: 'pending', detail: `throttled: ${loaded} of ${items.length} items loaded` };
      const now = loaded + chunk.length;
      await deps.tables.tag(handle.table, { [TAG_DRILL_LOADED]: String(now) });
      return now >= items.length
        ? { state: 'usable', detail: `${plural(items.length, 'item')} loaded` }
        : { state: 'pending', detail: `${now} of ${items.length} items loaded` };
    },

    async validate(handle, subject) {
      const table = await deps.tables.describe(handle.table);
      if (!table) return [check('engine answers', false, `the drill table ${handle.table} is gone`)];
      const chain = await chainOf(deps, subject);
      const held = chain[chain.length - 1];
      const expected = new ItemsChecksum();
      for (const item of await heldItems(deps, chain)) expected.add(item);
      const restored = new ItemsChecksum();
      for await (const page of deps.tables.scanAll(handle.table)) for (const item of page) restored.add(item);
      const checks: DrillCheck[] = [check('engine answers', true, `DynamoDB scans the drill table (${table.status})`)];

      const record = await recordOf(deps, subject);
      const fingerprint = await deps.fingerprint();
      // The inventory fingerprints the newest dump's checksum, and keeps the count of the newest full dump.
      const newest = record.latest?.objectKey === subject.copyId;
      const recordOk = !newest || fingerprint.of(Buffer.from(held.checksum)) === record.latest?.checksum;
      const countOfRecord = newest && chain.length === 1 ? record.count : undefined;
      const countOk =
        restored.count === expected.count && (countOfRecord === undefined || countOfRecord === restored.count);
      checks.push(
        check(
          'item count',
          countOk,
          `${plural(restored.count, 'item')} read back, ${expected.count} in the held dump` +
            (countOfRecord === undefined ? '' : `, ${countOfRecord} by the inventory`),
        ),
      );
      const sumOk = restored.value === expected.value && recordOk;
      checks.push(
        check(
          'checksum',
          sumOk,
          [
            restored.value === expected.value
              ? 'the items read back equal the held dump'
              : 'the items read back differ from the held dump',
            ...(newest
              ? [recordOk ? "the dump's checksum is the inventory's" : "the dump's checksum is not the inventory's"]
              : []),
          ].join('; '),
        ),
      );
      const problems = specDifferences(
        drillSpec(held.table, handle.table),
        await deps.tables.describeTable(handle.table),
      );
      checks.push(
        check(
          'schema',
          problems.length === 0,
          problems.length === 0 ? 'keys and indexes as the manifest describes' : problems.join('; '),
        ),
      );
      // The manifest names every file's SHA-256: it is the object an attacker would have to replace.
      const facts = await deps.objects.facts(subject.copyId);
      if (facts) {
        checks.push({ ...keyCheck(facts, deps.backupKeyArn, "the dump's manifest"), name: 'dump key' });
        checks.push(writtenOnceCheck(facts, "the dump's manifest"));
      } else {
        checks.push(check('dump key', false, `the vault store has no object at ${safeText(subject.copyId)}`));
      }
      checks.push(
        check(
          'key',
          sameKmsKey(table.kmsKeyArn, deps.backupKeyArn),
          sameKmsKey(table.kmsKeyArn, deps.backupKeyArn)
            ? 'the drill table is encrypted under the backup-data key'
            : `the drill table is encrypted under ${table.kmsKeyArn ?? 'an AWS-owned key'}, not the backup-data key`,
        ),
      );
      return checks;
    },

    async tearDown(handle) {
      const table = await deps.tables.describe(handle.table);
      if (!table) return true;
      if (table.tags[TAG_DRILL] !== handle.drillId) {
        throw new Error(`the table ${handle.table} is not this drill's (its ${TAG_DRILL} tag differs): left alone`);
      }
      if (table.status !== 'DELETING') await deps.tables.delete(handle.table);
      return (await deps.tables.describe(handle.table)) === undefined;
    },
  };
}
