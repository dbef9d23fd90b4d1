/**
 * Enrolment: the accounts of the configured organizational units become
 * registered sources without anyone editing the configuration. On a
 * schedule, the organization is read through the org-reader role; each
 * ACTIVE account found (child units walked to any depth) gets its own
 * intake topic, exactly like a listed account's, and an `enrolled:<account>`
 * record; an account that left the units is marked departed, so the
 * registry stops accepting it, while its topic and its copies stay.
 *
 * Idempotent: the topic is made (or found) before the record is written, so
 * a run that stops half way is finished by the next; records are written
 * conditionally, so two runs never overwrite each other.
 */
import type { Clock, Log } from '../ports';
import { enrolmentId } from './names';
import type { EnrolmentSettings } from './settings';
import type { EnrolmentRecord, Enrolments, IntakeTopics, OrganizationDirectory } from './types';

export interface EnrolmentDeps {
  readonly settings: Pick<EnrolmentSettings, 'backupAccount' | 'units' | 'listedAccounts'>;
  readonly organization: OrganizationDirectory;
  readonly topics: IntakeTopics;
  readonly enrolments: Enrolments;
  readonly clock: Clock;
  readonly log: Log;
}

export interface EnrolmentSummary {
  /** Accounts enrolled for the first time, or again after they had left. */
  readonly enrolled: string[];
  /** Enrolled accounts whose Regions changed (a unit's Regions, or a move between units). */
  readonly updated: string[];
  /** Accounts that left the units (or stopped being ACTIVE) in this run. */
  readonly departed: string[];
  /** Active enrolments found unchanged. */
  readonly unchanged: number;
  /** Records another run changed first; the next run looks again. */
  readonly conflicts: number;
}

/** One account found in the units, with the Regions of every unit it is in. */
interface Found {
  readonly regions: string[];
  readonly units: string[];
}

export async function enrolOrganization(deps: EnrolmentDeps): Promise<EnrolmentSummary> {
  const found = await accountsOfUnits(deps);
  const now = deps.clock.now().toISOString();
  const existing = new Map((await deps.enrolments.list()).map((record) => [record.account, record]));
  const [enrolled, updated, departed]: string[][] = [[], [], []];
  let unchanged = 0;
  let conflicts = 0;
  const count = (written: boolean, list: string[], account: string) => {
    if (written) list.push(account);
    else conflicts += 1;
  };

  for (const [account, { regions, units }] of found) {
    const record = existing.get(account);
    if (record?.enrolment === 'active' && sameList(record.regions, regions) && sameList(record.units, units)) {
      unchanged += 1;
      continue;
    }
    // The topic first: a record never names a topic that does not exist.
    const topicArn = await deps.topics.ensure(account, regions);
    if (!record) {
      const fresh: EnrolmentRecord = {
        artifactId: enrolmentId(account),
        enrolment: 'active',
        account,
        regions,
        units,
        topicArn,
        enrolledAt: now,
        updatedAt: now,
        version: 1,
      };
      count(await deps.enrolments.create(fresh), enrolled, account);
      continue;
    }
    const rejoined = record.enrolment === 'departed';
    const next: EnrolmentRecord = {
      ...withoutDeparture(record),
      enrolment: 'active',
      regions,
      units,
      topicArn,
      ...(rejoined ? { enrolledAt: now } : {}),
      updatedAt: now,
      version: record.version + 1,
    };
    count(await deps.enrolments.replace(record, next), rejoined ? enrolled : updated, account);
  }

  for (const record of existing.values()) {
    if (record.enrolment !== 'active' || found.has(record.account)) continue;
    const next: EnrolmentRecord = {
      ...record,
      enrolment: 'departed',
      departedAt: now,
      updatedAt: now,
      version: record.version + 1,
    };
    count(await deps.enrolments.replace(record, next), departed, record.account);
  }
  const summary: EnrolmentSummary = { enrolled, updated, departed, unchanged, conflicts };
  deps.log.info('organization enrolment finished', { ...summary });
  return summary;
}

/**
 * Every ACTIVE account under the configured units, child units included,
 * but neither the backup account nor a listed source (the vault stack owns
 * their topics), with the Regions of each unit it was found under.
 */
async function accountsOfUnits(deps: EnrolmentDeps): Promise<Map<string, Found>> {
  const skip = new Set([deps.settings.backupAccount, ...deps.settings.listedAccounts]);
  const found = new Map<string, Found>();
  for (const unit of deps.settings.units) {
    const visited = new Set<string>();
    const pending = [unit.id];
    while (pending.length > 0) {
      const parent = pending.shift() as string;
      if (visited.has(parent)) continue;
      visited.add(parent);
      for (const account of await deps.organization.accountsIn(parent)) {
        if (account.status !== 'ACTIVE' || skip.has(account.id)) continue;
        const entry = found.get(account.id) ?? { regions: [], units: [] };
        for (const region of unit.regions) if (!entry.regions.includes(region)) entry.regions.push(region);
        if (!entry.units.includes(unit.id)) entry.units.push(unit.id);
        found.set(account.id, entry);
      }
      pending.push(...(await deps.organization.childUnits(parent)));
    }
  }
  return found;
}

function withoutDeparture(record: EnrolmentRecord): EnrolmentRecord {
  const copy: { -readonly [K in keyof EnrolmentRecord]?: EnrolmentRecord[K] } = { ...record };
  delete copy.departedAt;
  return copy as EnrolmentRecord;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((item, index) => item === b[index]);
