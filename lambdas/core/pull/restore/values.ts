/**
 * Restoring SSM parameters or secrets from the vault into a target account
 * (`bunker restore ssm|secrets …`): per resource in the inventory, the
 * newest version whose source modification time is not after `--at` (a
 * resource deleted at the source at or before that time is skipped), each
 * value checked against its stored fingerprint, rewritten, written through
 * the target port with the target account's credentials, read back and
 * compared. The restore fails (`ok: false`) when any value does not match.
 */
import { safeText } from '../../text';
import type { SecretValue } from '../secret-value';
import { type Fingerprint, PULLED_KIND_OF, type PulledInventory, type VaultStore } from '../types';
import {
  decodeValueObject,
  failureReason,
  parseValueObjectKey,
  type ValueKey,
  type ValueKind,
  valueNamePrefix,
} from '../values';
import { type Rewrite, rewriteValue } from './rewrite';

/** Where restored values are written: a target account's Parameter Store or Secrets Manager. */
export interface ValueTarget {
  /** Writes `value` as `name`, replacing what is there, keeping `valueType` (SSM type, or secret `string`/`binary`). */
  write(name: string, valueType: string, value: SecretValue): Promise<void>;
  /** The value `name` holds now; `undefined` when it does not exist. */
  read(name: string): Promise<SecretValue | undefined>;
}

export interface ValueRestoreRequest {
  readonly kind: ValueKind;
  /** The source account and Region the values were pulled from. */
  readonly account: string;
  readonly region: string;
  /** Only names starting so (`--path`, `--name-prefix`). */
  readonly namePrefix?: string;
  /** Restore the values as they were at this time (ISO 8601); default: the newest held. */
  readonly at?: string;
  /** Prepended to each restored name (`--prefix`). */
  readonly targetPrefix?: string;
  readonly rewrites?: readonly Rewrite[];
}

/** One value the restore writes. */
export interface PlannedValue {
  readonly name: string;
  readonly targetName: string;
  readonly versionId: string;
  readonly modifiedAt: string;
  readonly objectKey: string;
}

export interface ValueRestorePlan {
  readonly values: readonly PlannedValue[];
  /** Names deleted at the source at or before `at`. */
  readonly deletedBefore: readonly string[];
  /** Names with no version at or before `at` (made later). */
  readonly notYet: readonly string[];
}

export type RestoreOutcome = 'equal' | 'mismatch' | 'failed';

export interface RestoredValue extends PlannedValue {
  readonly outcome: RestoreOutcome;
  /** Why it failed or differs; never a value. */
  readonly reason?: string;
}

export interface ValueRestoreSummary {
  readonly kind: ValueKind;
  readonly account: string;
  readonly region: string;
  readonly at?: string;
  readonly planned: number;
  readonly written: number;
  readonly equal: number;
  readonly mismatched: number;
  readonly failed: number;
  readonly skippedDeleted: number;
  readonly skippedNotYet: number;
  readonly values: readonly RestoredValue[];
  /** True only when every planned value was written and read back equal. */
  readonly ok: boolean;
}

export interface RestoreProgress {
  readonly done: number;
  readonly total: number;
  readonly value: RestoredValue;
}

export interface ValueRestoreDeps {
  readonly store: VaultStore;
  readonly records: PulledInventory;
  readonly fingerprint: Fingerprint;
  readonly target: ValueTarget;
  readonly progress?: (progress: RestoreProgress) => void;
}

/** `prefix` before `name`, with one `/` where both bring one (`/restored/` + `/app/db` → `/restored/app/db`). */
export function targetNameOf(name: string, prefix?: string): string {
  if (!prefix) return name;
  return prefix.endsWith('/') && name.startsWith('/') ? `${prefix}${name.slice(1)}` : `${prefix}${name}`;
}

/** Which version of each resource a restore at `request.at` writes. Reads the inventory and key listings only. */
export async function planValueRestore(
  deps: Pick<ValueRestoreDeps, 'store' | 'records'>,
  request: ValueRestoreRequest,
): Promise<ValueRestorePlan> {
  const at = request.at === undefined ? undefined : new Date(request.at);
  if (at && Number.isNaN(at.getTime())) throw new Error(`--at is not a time: ${safeText(request.at ?? '')}`);
  const atIso = at?.toISOString();
  const records = await deps.records.listScope(PULLED_KIND_OF[request.kind], request.account, request.region);
  const values: PlannedValue[] = [];
  const deletedBefore: string[] = [];
  const notYet: string[] = [];
  const prefix = request.namePrefix ?? '';
  const names = records.filter((r) => r.sourceId.startsWith(prefix)).sort((a, b) => (a.sourceId < b.sourceId ? -1 : 1));
  // One listing of every version under the prefix (1,000 keys a page), not one per resource.
  const byName = new Map<string, { key: string; parsed: ValueKey }[]>();
  for (const { key } of await deps.store.list(
    valueNamePrefix(request.kind, request.account, request.region, prefix, false),
  )) {
    const parsed = parseValueObjectKey(key);
    if (!parsed || (atIso && parsed.modifiedAt > atIso)) continue;
    const versions = byName.get(parsed.name) ?? [];
    versions.push({ key, parsed });
    byName.set(parsed.name, versions);
  }
  for (const record of names) {
    const name = record.sourceId;
    if (record.deletedAt && (!atIso || record.deletedAt <= atIso)) {
      deletedBefore.push(name);
      continue;
    }
    const versions = (byName.get(name) ?? []).sort((a, b) => (a.key < b.key ? -1 : 1));
    // Versions made within one tick of the source's clock (secrets made in one second) tie on time: the one
    // that was current at the last pull wins the tie, else the last in key order.
    const newestTime = versions.at(-1)?.parsed.modifiedAt;
    const tied = versions.filter((v) => v.parsed.modifiedAt === newestTime);
    const newest = tied.find((v) => v.parsed.versionId === record.latest?.id) ?? tied.at(-1);
    if (!newest) {
      notYet.push(name);
      continue;
    }
    values.push({
      name,
      targetName: targetNameOf(name, request.targetPrefix),
      versionId: newest.parsed.versionId,
      modifiedAt: newest.parsed.modifiedAt,
      objectKey: newest.key,
    });
  }
  return { values, deletedBefore, notYet };
}

export async function restoreValues(
  deps: ValueRestoreDeps,
  request: ValueRestoreRequest,
): Promise<ValueRestoreSummary> {
  const plan = await planValueRestore(deps, request);
  const restored: RestoredValue[] = [];
  let written = 0;
  for (const planned of plan.values) {
    const result = await restoreOne(deps, request, planned);
    if (result.written) written += 1;
    restored.push(result.value);
    deps.progress?.({ done: restored.length, total: plan.values.length, value: result.value });
  }
  const count = (outcome: RestoreOutcome) => restored.filter((v) => v.outcome === outcome).length;
  const summary = {
    kind: request.kind,
    account: request.account,
    region: request.region,
    ...(request.at ? { at: request.at } : {}),
    planned: plan.values.length,
    written,
    equal: count('equal'),
    mismatched: count('mismatch'),
    failed: count('failed'),
    skippedDeleted: plan.deletedBefore.length,
    skippedNotYet: plan.notYet.length,
    values: restored,
  };
  return { ...summary, ok: summary.equal === summary.planned };
}

async function restoreOne(
  deps: ValueRestoreDeps,
  request: ValueRestoreRequest,
  planned: PlannedValue,
): Promise<{ written: boolean; value: RestoredValue }> {
  const failed = (reason: string, written = false) => ({
    written,
    value: { ...planned, outcome: 'failed' as const, reason },
  });
  const body = await deps.store.get(planned.objectKey);
  if (!body) return failed('the vault store has no object at this key');
  let object;
  try {
    object = decodeValueObject(body);
  } catch (error) {
    return failed(`the stored object is unreadable (${failureReason(error)})`);
  }
  // The vault's own copy is checked before anything is written from it.
  if (deps.fingerprint.of(object.value.bytes()) !== object.checksum) {
    return failed('the stored value does not match its checksum');
  }
  const value = rewriteValue(object.value, request.rewrites ?? []);
  try {
    await deps.target.write(planned.targetName, object.valueType, value);
  } catch (error) {
    return failed(`writing failed (${failureReason(error)})`);
  }
  let back: SecretValue | undefined;
  try {
    back = await deps.target.read(planned.targetName);
  } catch (error) {
    return failed(`reading back failed (${failureReason(error)})`, true);
  }
  const equal = back !== undefined && deps.fingerprint.of(back.bytes()) === deps.fingerprint.of(value.bytes());
  return {
    written: true,
    value: equal
      ? { ...planned, outcome: 'equal' }
      : { ...planned, outcome: 'mismatch', reason: back ? 'the value read back differs' : 'nothing to read back' },
  };
}
