/**
 * The contract of the MemoryCopier test double (sim/memory-copier.ts): what
 * the pool tests rely on it to do like AWS.
 */
import { describe, expect, it } from 'vitest';
import { CopyQuotaExceededError, CopyRefusedError } from '../../lambdas/core/errors';
import type { ArtifactRef, CopyRequest, KindName } from '../../lambdas/kinds/types';
import { ManualClock, Prng } from '../../sim/memory-aws';
import { MemoryCopier, type MemoryCopierOptions } from '../../sim/memory-copier';
import { BACKUP, OTHER, REGION, SOURCE, T0 } from './support/memory-fixtures';

const MINUTE = 60_000;
const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/0b0e2a4c-1111-4222-8333-944455556666';

function copierOf(kind: KindName, options: Partial<MemoryCopierOptions> = {}) {
  const clock = new ManualClock(T0);
  const copier = new MemoryCopier(kind, clock, new Prng(42), {
    backupAccount: BACKUP,
    copyDurationMs: () => 10 * MINUTE,
    ...options,
  });
  return { clock, copier };
}

const ref = (kind: KindName, id: string, account = SOURCE): ArtifactRef => ({
  kind,
  partition: 'aws',
  account,
  region: REGION,
  id,
});

function requestOf(copier: MemoryCopier, source: ArtifactRef, targetName: string): CopyRequest {
  return {
    ref: source,
    sourceArn: copier.addSource(source).arn,
    sourceId: source.id,
    sourceRegion: source.region,
    targetName,
    targetRegion: REGION,
    kmsKeyArn: KEY,
    tags: { 'bunker:managed-by': 'bunker' },
  };
}

describe('MemoryCopier', () => {
  it('describes a source it holds as owned by its account, shared with the backup account, encrypted and available', async () => {
    const { copier } = copierOf('rds-snapshot');
    copier.addSource(ref('rds-snapshot', 'bunker-share-orders'), { resourceId: 'orders-db' });

    const view = await copier.describeSource(ref('rds-snapshot', 'bunker-share-orders'));
    const unknown = await copier.describeSource(ref('rds-snapshot', 'bunker-share-orders', OTHER));

    expect(view).toMatchObject({
      arn: 'arn:aws:rds:eu-west-1:222222222222:snapshot:bunker-share-orders',
      ownerAccount: '222222222222',
      state: 'available',
      encrypted: true,
      sharedWith: ['111111111111'],
      scopeIds: ['bunker-share-orders', 'orders-db'],
    });
    expect(unknown).toBeUndefined();
  });

  it('shows a copy pending until its duration is up, then available under the requested key', async () => {
    const { clock, copier } = copierOf('rds-snapshot');
    const request = requestOf(copier, ref('rds-snapshot', 'bunker-share-orders'), 'bunker-orders-copy');

    const started = await copier.copy(request);
    const location = { targetName: 'bunker-orders-copy', region: REGION };
    const before = await copier.describeCopy(location);
    clock.advance(10 * MINUTE - 1);
    const almost = await copier.describeCopy(location);
    clock.advance(1);
    const after = await copier.describeCopy(location);

    expect(started).toEqual({ outcome: 'started', targetId: 'bunker-orders-copy' });
    expect([before?.state, almost?.state, after?.state]).toEqual(['pending', 'pending', 'available']);
    expect(after).toMatchObject({
      targetId: 'bunker-orders-copy',
      arn: 'arn:aws:rds:eu-west-1:111111111111:snapshot:bunker-orders-copy',
      detail: 'available',
      encrypted: true,
      keyArn: KEY,
      tags: { 'bunker:managed-by': 'bunker' },
    });
    expect(copier.takeFinished()).toEqual([{ targetId: 'bunker-orders-copy', region: REGION, state: 'available' }]);
    expect(copier.takeFinished()).toEqual([]);
  });

  it('gives an EBS copy an id of its own and a copy-name tag, and finds it by either', async () => {
    const { copier } = copierOf('ebs-snapshot');
    const request = requestOf(copier, ref('ebs-snapshot', 'snap-0123456789abcdef0'), 'bunker-ebs-copy');

    const started = await copier.copy(request);
    const byName = await copier.describeCopy({ targetName: 'bunker-ebs-copy', region: REGION });
    const byId = await copier.describeCopy({
      targetName: 'bunker-ebs-copy',
      targetId: started.targetId,
      region: REGION,
    });

    expect(started).toEqual({ outcome: 'started', targetId: 'snap-97da2849d73eb438a' });
    expect(byName?.targetId).toBe('snap-97da2849d73eb438a');
    expect(byId?.tags).toEqual({ 'bunker:managed-by': 'bunker', 'bunker:copy-name': 'bunker-ebs-copy' });
    expect(byId?.detail).toBe('pending');
  });

  it('answers exists with the first copy id when a name is copied again, and starts no second copy', async () => {
    const { copier } = copierOf('ami');
    const source = ref('ami', 'ami-0123456789abcdef0');
    const request = requestOf(copier, source, 'bunker-ami-copy');

    const first = await copier.copy(request);
    const again = await copier.copy(request);

    expect(first).toEqual({ outcome: 'started', targetId: 'ami-907d090402c802d7c' });
    expect(again).toEqual({ outcome: 'exists', targetId: 'ami-907d090402c802d7c' });
    expect(copier.copiesOf(source)).toHaveLength(1);
    expect(copier.requestsFor(source)).toEqual({ requests: 2, started: 1, exists: 1, quotaAnswers: 0, refused: 0 });
  });

  it('puts every backing snapshot of an available AMI copy under the requested key', async () => {
    const { clock, copier } = copierOf('ami');
    const source = ref('ami', 'ami-0123456789abcdef0');
    const request = requestOf(copier, source, 'bunker-ami-copy');

    const started = await copier.copy(request);
    clock.advance(10 * MINUTE);
    const copy = await copier.describeCopy({ targetName: 'x', targetId: started.targetId, region: REGION });

    expect(copy?.state).toBe('available');
    expect(copy?.keyArn).toBeUndefined();
    expect(copy?.children).toEqual([{ id: 'snap-5700893a34bd83441', encrypted: true, keyArn: KEY }]);
  });

  it('answers the AWS quota error when the copies in progress are at the quota, and room again when one ends', async () => {
    const { clock, copier } = copierOf('aurora-cluster-snapshot', { quota: 2 });
    const requests = ['a', 'b', 'c'].map((n) =>
      requestOf(copier, ref('aurora-cluster-snapshot', `bunker-share-${n}`), `bunker-copy-${n}`),
    );

    await copier.copy(requests[0]);
    await copier.copy(requests[1]);
    const refused = await copier.copy(requests[2]).catch((error: unknown) => error);
    clock.advance(10 * MINUTE);
    const later = await copier.copy(requests[2]);

    expect(refused).toBeInstanceOf(CopyQuotaExceededError);
    expect((refused as Error).message).toBe(
      'too many Aurora DB cluster snapshot copies in progress in eu-west-1; the limit is 2',
    );
    expect(later.outcome).toBe('started');
    expect(copier.quotaErrors).toBe(1);
    expect(copier.peakInProgress(REGION)).toBe(2);
    expect(copier.inProgress(REGION)).toBe(1);
    expect(copier.requestsFor(requests[2].ref)).toEqual({
      requests: 2,
      started: 1,
      exists: 0,
      quotaAnswers: 1,
      refused: 0,
    });
  });

  it('uses the quota of its kind from the registry unless told otherwise, per Region', async () => {
    const { copier } = copierOf('aurora-cluster-snapshot');
    copier.setQuota('eu-central-1', 1);
    const requests = [1, 2, 3, 4, 5, 6].map((n) =>
      requestOf(copier, ref('aurora-cluster-snapshot', `bunker-share-${n}`), `bunker-copy-${n}`),
    );

    const outcomes = await Promise.all(
      requests.map((r) =>
        copier.copy(r).then(
          (s) => s.outcome,
          (e: unknown) => (e as Error).name,
        ),
      ),
    );
    const central = await copier
      .copy({ ...requests[0], targetName: 'bunker-central', targetRegion: 'eu-central-1' })
      .then((s) => s.outcome);
    const centralAgain = await copier
      .copy({ ...requests[1], targetName: 'bunker-central-2', targetRegion: 'eu-central-1' })
      .catch((e: unknown) => (e as Error).name);

    expect(outcomes).toEqual(['started', 'started', 'started', 'started', 'started', 'CopyQuotaExceededError']);
    expect([central, centralAgain]).toEqual(['started', 'CopyQuotaExceededError']);
  });

  it('fails a copy its failure function picks, once its time is up, and tells the function how many failed before', async () => {
    const seen: number[] = [];
    const { clock, copier } = copierOf('rds-snapshot', {
      copyFails: (copy) => {
        seen.push(copy.failedBefore);
        return copy.failedBefore === 0;
      },
    });
    const source = ref('rds-snapshot', 'bunker-share-orders');
    const request = requestOf(copier, source, 'bunker-orders-copy');

    await copier.copy(request);
    clock.advance(10 * MINUTE);
    const failed = await copier.describeCopy({ targetName: 'bunker-orders-copy', region: REGION });
    await copier.copy({ ...request, targetName: 'bunker-orders-copy-1' });
    clock.advance(10 * MINUTE);
    const retried = await copier.describeCopy({ targetName: 'bunker-orders-copy-1', region: REGION });

    expect([failed?.state, failed?.detail]).toEqual(['failed', 'failed']);
    expect(retried?.state).toBe('available');
    expect(seen).toEqual([0, 1]);
    expect(copier.takeFinished()).toEqual([
      { targetId: 'bunker-orders-copy', region: REGION, state: 'failed' },
      { targetId: 'bunker-orders-copy-1', region: REGION, state: 'available' },
    ]);
  });

  it('refuses to copy a source that is not shared with the backup account', async () => {
    const { copier } = copierOf('ebs-snapshot');
    const source = ref('ebs-snapshot', 'snap-0123456789abcdef0');
    const view = copier.addSource(source, { sharedWith: [] });

    const refused = await copier
      .copy({
        ref: source,
        sourceArn: view.arn,
        sourceId: source.id,
        sourceRegion: source.region,
        targetName: 'bunker-ebs-copy',
        targetRegion: REGION,
        kmsKeyArn: KEY,
        tags: {},
      })
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(CopyRefusedError);
    expect(copier.size).toBe(0);
  });
});
