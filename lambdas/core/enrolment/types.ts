/**
 * The organization-wide rollout as the vault sees it: which accounts the
 * configured organizational units hold, the intake topic each needs, and
 * the record that makes an account a registered source.
 */
import type { RegisteredSource } from '../settings';

/** An account as Organizations lists it; only `ACTIVE` ones are enrolled. */
export interface OrgAccount {
  readonly id: string;
  /** `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, as Organizations reports it. */
  readonly status: string;
}

/** The organization, read through the org-reader role. */
export interface OrganizationDirectory {
  /** Accounts directly in a unit or the root, whatever their status. */
  accountsIn(parentId: string): Promise<OrgAccount[]>;
  /** Organizational units directly under a unit or the root. */
  childUnits(parentId: string): Promise<string[]>;
}

/** The backup account's intake topics of enrolled accounts. */
export interface IntakeTopics {
  /**
   * Creates the account's intake topic, or finds it, with the policy and key
   * of a listed account's topic (only that account's agents of `regions` may
   * publish) and subscribed to the intake queue. Idempotent; the topic's ARN.
   */
  ensure(account: string, regions: readonly string[]): Promise<string>;
}

/**
 * `enrolled:<account>` in the inventory table. No `status` attribute: the
 * by-status index and the copy pipeline never see it. A departed account
 * keeps its record (and its topic and copies) but is no longer registered.
 */
export interface EnrolmentRecord {
  readonly artifactId: string;
  readonly enrolment: 'active' | 'departed';
  readonly account: string;
  /** The Regions of every configured unit the account is in, in configuration order. */
  readonly regions: readonly string[];
  /** The configured units it was found through. */
  readonly units: readonly string[];
  readonly topicArn: string;
  readonly enrolledAt: string;
  readonly departedAt?: string;
  readonly updatedAt: string;
  readonly version: number;
}

/** Enrolment records; every write is conditional and a lost race answers `false`. */
export interface Enrolments {
  get(account: string): Promise<EnrolmentRecord | undefined>;
  list(): Promise<EnrolmentRecord[]>;
  create(record: EnrolmentRecord): Promise<boolean>;
  replace(expected: EnrolmentRecord, next: EnrolmentRecord): Promise<boolean>;
}

/** A registered source from an active enrolment. */
export const registeredOf = (record: EnrolmentRecord): RegisteredSource => ({
  account: record.account,
  regions: [...record.regions],
});
