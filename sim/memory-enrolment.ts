/**
 * In-memory doubles of the enrolment ports: an organization tree of units
 * and accounts, the backup account's intake topics, and the enrolment
 * records. They keep the adapters' contracts (a topic made twice is one
 * topic; writes are conditional on `version`) so the core's tests and the
 * contract tests run the same cases against them and the emulator.
 */
import { intakeTopicArn } from '../lambdas/core/names';
import { intakeTopicPolicy, type TopicPolicy } from '../lambdas/core/enrolment/topic-policy';
import type {
  EnrolmentRecord,
  Enrolments,
  IntakeTopics,
  OrgAccount,
  OrganizationDirectory,
} from '../lambdas/core/enrolment/types';

/** An organization: units (and the root) holding accounts and child units. */
export class MemoryOrganization implements OrganizationDirectory {
  private readonly parents = new Map<string, string>();
  private readonly accounts = new Map<string, OrgAccount>();
  /** Calls of each kind, for tests that count the reads. */
  readonly calls = { accountsIn: 0, childUnits: 0 };

  /** A unit under `parent` (a unit or the root). */
  addUnit(id: string, parent: string): this {
    this.parents.set(id, parent);
    return this;
  }

  /** An account in `parent`, ACTIVE unless told otherwise. */
  addAccount(id: string, parent: string, status = 'ACTIVE'): this {
    this.accounts.set(id, { id, status });
    this.parents.set(id, parent);
    return this;
  }

  moveAccount(id: string, to: string): this {
    this.parents.set(id, to);
    return this;
  }

  setStatus(id: string, status: string): this {
    const account = this.accounts.get(id);
    if (!account) throw new Error(`no account ${id}`);
    this.accounts.set(id, { id, status });
    return this;
  }

  async accountsIn(parentId: string): Promise<OrgAccount[]> {
    this.calls.accountsIn += 1;
    return [...this.accounts.values()].filter((account) => this.parents.get(account.id) === parentId);
  }

  async childUnits(parentId: string): Promise<string[]> {
    this.calls.childUnits += 1;
    return [...this.parents.entries()]
      .filter(([id, parent]) => parent === parentId && !this.accounts.has(id))
      .map(([id]) => id);
  }
}

export interface MemoryTopic {
  readonly arn: string;
  readonly keyArn: string;
  policy: TopicPolicy;
  /** Endpoints subscribed (the intake queue), each once. */
  readonly subscriptions: Set<string>;
}

/** The backup account's intake topics, by name. */
export class MemoryIntakeTopics implements IntakeTopics {
  readonly topics = new Map<string, MemoryTopic>();
  /** Every ensure call, in order. */
  readonly ensured: string[] = [];

  constructor(
    private readonly settings: {
      readonly prefix: string;
      readonly backupAccount: string;
      readonly backupRegion: string;
      readonly intakeKeyArn: string;
      readonly intakeQueueArn: string;
    },
  ) {}

  async ensure(account: string, regions: readonly string[]): Promise<string> {
    const { prefix, backupAccount, backupRegion, intakeKeyArn, intakeQueueArn } = this.settings;
    this.ensured.push(account);
    const arn = intakeTopicArn(prefix, backupAccount, backupRegion, account);
    const topic = this.topics.get(arn) ?? {
      arn,
      keyArn: intakeKeyArn,
      policy: { Version: '2012-10-17', Statement: [] },
      subscriptions: new Set<string>(),
    };
    topic.policy = intakeTopicPolicy(prefix, account, regions, arn);
    topic.subscriptions.add(intakeQueueArn);
    this.topics.set(arn, topic);
    return arn;
  }
}

/** Enrolment records by account; a write whose `version` is stale answers `false`. */
export class MemoryEnrolments implements Enrolments {
  readonly records = new Map<string, EnrolmentRecord>();

  async get(account: string): Promise<EnrolmentRecord | undefined> {
    return this.records.get(account);
  }

  async list(): Promise<EnrolmentRecord[]> {
    return [...this.records.values()];
  }

  async create(record: EnrolmentRecord): Promise<boolean> {
    if (this.records.has(record.account)) return false;
    this.records.set(record.account, record);
    return true;
  }

  async replace(expected: EnrolmentRecord, next: EnrolmentRecord): Promise<boolean> {
    if (this.records.get(expected.account)?.version !== expected.version) return false;
    this.records.set(next.account, next);
    return true;
  }
}
