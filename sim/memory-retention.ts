/**
 * In-memory doubles of the pruner's ports, for the core's tests: the backup
 * account's copies (read back by id, deleted by kind, with EBS snapshot
 * locks and AMI deregistration protection), and the vault bucket's object
 * versions with Object Lock retention.
 *
 * They behave like the SDK adapters (`lambdas/adapters/retention/`) where
 * the pruner's decisions depend on it: a copy that is gone answers `gone`,
 * a locked one `locked` and stays, an AMI's backing snapshots are deleted
 * after the image. What the emulator cannot show (EBS snapshot lock and AMI
 * deregistration protection are not in moto 5.2.5) is a setting here.
 */
import type { CopyLocation, CopyView, KindName } from '../lambdas/kinds/types';
import type {
  CopyDeleter,
  CopyDeleters,
  CopyReaders,
  CopyToDelete,
  DeleteOutcome,
  VaultVersions,
} from '../lambdas/core/retention/prune';
import type { StoredVersion } from '../lambdas/core/retention/plan';
import { KIND_NAMES } from '../lambdas/kinds/types';

export interface MemoryCopy {
  readonly kind: KindName;
  readonly targetId: string;
  readonly region: string;
  readonly tags: Readonly<Record<string, string>>;
  /** An AMI's backing snapshots (kept in {@link MemoryCopies} as `ebs-snapshot` copies of their own). */
  readonly children?: readonly string[];
  /** Why the service refuses a deletion (an EBS snapshot lock, AMI deregistration protection). */
  readonly lockedBecause?: string;
}

/** The backup account's copies of every kind, in every Region. */
export class MemoryCopies {
  private readonly copies = new Map<string, MemoryCopy>();
  /** Every delete call, in order: `<kind>:<region>:<id>`. */
  readonly deleteCalls: string[] = [];

  private static key(region: string, id: string) {
    return `${region}|${id}`;
  }

  add(copy: MemoryCopy): void {
    this.copies.set(MemoryCopies.key(copy.region, copy.targetId), copy);
  }

  has(region: string, id: string): boolean {
    return this.copies.has(MemoryCopies.key(region, id));
  }

  /** Ids of the copies left in a Region, sorted. */
  ids(region: string): string[] {
    return [...this.copies.values()]
      .filter((copy) => copy.region === region)
      .map((copy) => copy.targetId)
      .sort();
  }

  readers(): CopyReaders {
    const reader = {
      describeCopy: async (location: CopyLocation): Promise<CopyView | undefined> => {
        const copy = this.copies.get(MemoryCopies.key(location.region, location.targetId ?? location.targetName));
        if (!copy) return undefined;
        return {
          targetId: copy.targetId,
          arn: `arn:aws:memory:${copy.region}::${copy.targetId}`,
          region: copy.region,
          state: 'available',
          detail: 'available',
          encrypted: true,
          tags: { ...copy.tags },
          ...(copy.children ? { children: copy.children.map((id) => ({ id, encrypted: true })) } : {}),
        };
      },
    };
    return Object.fromEntries(KIND_NAMES.map((kind) => [kind, reader])) as unknown as CopyReaders;
  }

  deleters(): CopyDeleters {
    const deleterOf = (kind: KindName): CopyDeleter => ({
      delete: async (target: CopyToDelete): Promise<DeleteOutcome> => {
        this.deleteCalls.push(`${kind}:${target.region}:${target.targetId}`);
        const own = this.remove(target.region, target.targetId);
        if (own.outcome === 'locked') return own;
        for (const child of target.children ?? []) {
          this.deleteCalls.push(`ebs-snapshot:${target.region}:${child}`);
          const outcome = this.remove(target.region, child);
          if (outcome.outcome === 'locked') return outcome;
        }
        return own;
      },
    });
    return Object.fromEntries(KIND_NAMES.map((kind) => [kind, deleterOf(kind)])) as unknown as CopyDeleters;
  }

  private remove(region: string, id: string): DeleteOutcome {
    const key = MemoryCopies.key(region, id);
    const copy = this.copies.get(key);
    if (!copy) return { outcome: 'gone' };
    if (copy.lockedBecause) return { outcome: 'locked', detail: copy.lockedBecause };
    this.copies.delete(key);
    return { outcome: 'deleted' };
  }
}

/** The vault bucket's object versions; a version under Object Lock retention refuses deletion. */
export class MemoryVaultVersions implements VaultVersions {
  private readonly versions = new Map<string, { retainUntil: number; body: Uint8Array }>();

  constructor(private readonly now: () => Date) {}

  /** A stored version, locked until `retainUntil` (Object Lock's retain-until date). */
  put(key: string, versionId: string, retainUntil: string, body: Uint8Array = new Uint8Array()): void {
    this.versions.set(`${key}\n${versionId}`, { retainUntil: Date.parse(retainUntil), body });
  }

  /** The bytes of the key's last stored version. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const entries = [...this.versions.entries()].filter(([entry]) => entry.split('\n')[0] === key);
    return entries.at(-1)?.[1].body;
  }

  /** Every stored `key@versionId`, sorted. */
  held(): string[] {
    return [...this.versions.keys()].map((entry) => entry.replace('\n', '@')).sort();
  }

  async listVersions(prefix: string): Promise<StoredVersion[]> {
    return [...this.versions.keys()]
      .map((entry) => {
        const [key, versionId] = entry.split('\n');
        return { key, versionId };
      })
      .filter((version) => version.key.startsWith(prefix));
  }

  async deleteVersion(key: string, versionId: string): Promise<DeleteOutcome> {
    const entry = this.versions.get(`${key}\n${versionId}`);
    if (!entry) return { outcome: 'gone' };
    if (entry.retainUntil > this.now().getTime()) {
      return { outcome: 'locked', detail: 'AccessDenied: the object version is under Object Lock retention' };
    }
    this.versions.delete(`${key}\n${versionId}`);
    return { outcome: 'deleted' };
  }
}
