/**
 * In-memory doubles of the pulled drills' own ports: drill tables over the
 * in-memory DynamoDB (sim/memory-tables.ts) and S3's facts of vault objects
 * over the in-memory vault store. `MemoryDrillTables` runs the same
 * contract cases as `SdkDrillTables` on the emulator
 * (test/emulator/pulled-drill.test.ts).
 */
import type { Item, TableSpec, WriteResult } from '../../lambdas/core/pull/dynamodb/types';
import type {
  DrillTable,
  DrillTables,
  VaultObjectFacts,
  VaultObjectInspector,
} from '../../lambdas/core/pull/restore/drill';
import type { MemoryVaultStore } from '../../sim/memory-pull';
import type { MemoryTables } from '../../sim/memory-tables';

export class MemoryDrillTables implements DrillTables {
  private readonly meta = new Map<string, { status: string; kmsKeyArn: string; tags: Record<string, string> }>();
  /** Tables that stay CREATING for this many describes after they are made. */
  creatingFor = 0;
  private describes = new Map<string, number>();

  constructor(readonly dynamo: MemoryTables) {}

  async create(name: string, spec: TableSpec, kmsKeyArn: string, tags: Readonly<Record<string, string>>) {
    if (this.dynamo.tables.has(name)) return false;
    this.dynamo.create({ ...spec, name }, { ...tags });
    this.meta.set(name, { status: 'CREATING', kmsKeyArn, tags: { ...tags } });
    this.describes.set(name, 0);
    return true;
  }

  async describe(name: string): Promise<DrillTable | undefined> {
    const meta = this.meta.get(name);
    if (!meta || !this.dynamo.tables.has(name)) return undefined;
    const seen = (this.describes.get(name) ?? 0) + 1;
    this.describes.set(name, seen);
    if (meta.status === 'CREATING' && seen > this.creatingFor) meta.status = 'ACTIVE';
    return { status: meta.status, kmsKeyArn: meta.kmsKeyArn, tags: { ...meta.tags } };
  }

  async tag(name: string, tags: Readonly<Record<string, string>>): Promise<void> {
    const meta = this.meta.get(name);
    if (!meta) throw Object.assign(new Error(`Table ${name} not found`), { name: 'ResourceNotFoundException' });
    Object.assign(meta.tags, tags);
  }

  async delete(name: string): Promise<void> {
    this.dynamo.tables.delete(name);
    this.meta.delete(name);
  }

  describeTable(name: string): Promise<TableSpec | undefined> {
    return this.dynamo.describeTable(name);
  }

  batchPut(name: string, items: Item[]): Promise<WriteResult> {
    return this.dynamo.batchPut(name, items);
  }

  scanAll(name: string): AsyncIterable<Item[]> {
    return this.dynamo.scanAll(name);
  }
}

/** Every object of the in-memory store is under `kmsKeyArn`, with one version unless {@link overwrite}n. */
export class MemoryObjectInspector implements VaultObjectInspector {
  private readonly extraVersions = new Map<string, number>();

  constructor(
    private readonly store: MemoryVaultStore,
    private readonly kmsKeyArn: string,
  ) {}

  /** What an attacker with the bucket can do: a new current version at `key` (Object Lock keeps the first). */
  overwrite(key: string, body: Uint8Array): void {
    this.store.objects.set(key, Uint8Array.from(body));
    this.extraVersions.set(key, (this.extraVersions.get(key) ?? 0) + 1);
  }

  async facts(key: string): Promise<VaultObjectFacts | undefined> {
    if (!this.store.objects.has(key)) return undefined;
    return { kmsKeyId: this.kmsKeyArn, versions: 1 + (this.extraVersions.get(key) ?? 0) };
  }
}
