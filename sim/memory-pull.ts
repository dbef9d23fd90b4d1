/**
 * In-memory doubles of the pulled-backup ports: the vault store (S3 with
 * Object Lock) and the pulled records of the inventory. They run the same
 * contract tests as their AWS adapters on the emulator.
 */
import type {
  PulledConfigKey,
  PulledInventory,
  PulledKindName,
  PulledRecord,
  PullRunRecord,
  VaultStore,
} from '../lambdas/core/pull/types';
import { pullRunId, pullScopeOf } from '../lambdas/core/pull/types';

export class MemoryVaultStore implements VaultStore {
  readonly objects = new Map<string, Uint8Array>();
  /** Objects written, over the store's life: what "no data writes" counts. */
  writes = 0;

  async putOnce(key: string, body: Uint8Array): Promise<boolean> {
    if (this.objects.has(key)) return false;
    this.objects.set(key, Uint8Array.from(body));
    this.writes += 1;
    return true;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const body = this.objects.get(key);
    return body && Uint8Array.from(body);
  }

  async list(prefix: string): Promise<{ key: string; size: number }[]> {
    return [...this.objects]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, body]) => ({ key, size: body.length }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

const clone = <T>(value: T): T => structuredClone(value);

export class MemoryPulledInventory implements PulledInventory {
  readonly records = new Map<string, PulledRecord>();
  readonly runs = new Map<string, PullRunRecord>();

  async get(artifactId: string): Promise<PulledRecord | undefined> {
    const record = this.records.get(artifactId);
    return record && clone(record);
  }

  async listScope(kind: PulledKindName, account: string, region: string): Promise<PulledRecord[]> {
    const scope = pullScopeOf(kind, account, region);
    return [...this.records.values()].filter((r) => r.pullScope === scope).map(clone);
  }

  async list(): Promise<PulledRecord[]> {
    return [...this.records.values()].map(clone);
  }

  async create(record: PulledRecord): Promise<boolean> {
    if (this.records.has(record.artifactId)) return false;
    this.records.set(record.artifactId, clone(record));
    return true;
  }

  async replace(expected: PulledRecord, next: PulledRecord): Promise<boolean> {
    const stored = this.records.get(expected.artifactId);
    if (!stored || stored.version !== expected.version) return false;
    this.records.set(next.artifactId, clone(next));
    return true;
  }

  async getRun(kind: PulledConfigKey, account: string, region: string): Promise<PullRunRecord | undefined> {
    const run = this.runs.get(pullRunId(kind, account, region));
    return run && clone(run);
  }

  async putRun(run: PullRunRecord): Promise<void> {
    this.runs.set(run.artifactId, clone(run));
  }
}
