/**
 * In-memory doubles of the auditor's ports: the source accounts' resources
 * as discovery lists them, the audit records of the inventory (conditional
 * writes as in the DynamoDB adapter), and the alerts topic.
 */
import type {
  AlertPublisher,
  AuditRecord,
  AuditRecords,
  DiscoveredResource,
  ScopeDiscovery,
} from '../lambdas/core/audit/types';
import type { KindName } from '../lambdas/kinds/types';

const clone = <T>(value: T): T => structuredClone(value);

export class MemoryScopeDiscovery implements ScopeDiscovery {
  private readonly resourcesByScope = new Map<string, DiscoveredResource[]>();
  /** Scopes (`<kind> <account> <region>`) whose listing throws, as an unassumable reader role would. */
  readonly failing = new Set<string>();

  add(kind: KindName, account: string, region: string, resource: DiscoveredResource): this {
    const key = `${kind} ${account} ${region}`;
    this.resourcesByScope.set(key, [...(this.resourcesByScope.get(key) ?? []), resource]);
    return this;
  }

  async resources(kind: KindName, account: string, region: string): Promise<DiscoveredResource[]> {
    const key = `${kind} ${account} ${region}`;
    if (this.failing.has(key)) throw new Error(`AccessDenied: cannot assume the reader role of ${account}`);
    return (this.resourcesByScope.get(key) ?? []).map(clone);
  }
}

export class MemoryAuditRecords implements AuditRecords {
  readonly records = new Map<string, AuditRecord>();

  async get(artifactId: string): Promise<AuditRecord | undefined> {
    const record = this.records.get(artifactId);
    return record && clone(record);
  }

  async list(): Promise<AuditRecord[]> {
    return [...this.records.values()].map(clone);
  }

  async create(record: AuditRecord): Promise<boolean> {
    if (this.records.has(record.artifactId)) return false;
    this.records.set(record.artifactId, clone(record));
    return true;
  }

  async replace(expected: AuditRecord, next: AuditRecord): Promise<boolean> {
    const stored = this.records.get(expected.artifactId);
    if (!stored || stored.version !== expected.version) return false;
    this.records.set(next.artifactId, clone(next));
    return true;
  }
}

export class MemoryAlerts implements AlertPublisher {
  readonly sent: { subject: string; message: string }[] = [];
  /** Publishes that throw before anything is sent, counted down. */
  failNext = 0;

  async publish(subject: string, message: string): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('alerts topic unavailable');
    }
    this.sent.push({ subject, message });
  }
}
