/**
 * The one mark of an intermediate the backup account can see is its
 * description (another account's tags are invisible to it): the EC2 agent
 * writes it and the EBS copier's listing of shared snapshots looks for it,
 * so both read `INTERMEDIATE_DESCRIPTION` from lambdas/kinds/shared.ts.
 */
import { describe, expect, it } from 'vitest';
import { type Ec2AgentDeps, processEbsSnapshot, processImage } from '../../lambdas/core/agent/ec2-agent';
import type { SourceEc2 } from '../../lambdas/core/agent/ec2-ports';
import type { Log } from '../../lambdas/core/ports';
import { INTERMEDIATE_DESCRIPTION } from '../../lambdas/kinds/shared';
import { ManualClock, MemoryPublisher } from '../../sim/memory-aws';
import { MemoryEc2World } from '../../sim/memory-ec2';
import { BACKUP, BY_TAG, IN_SCOPE, REGION, SOURCE, T0, topicOf } from './support/memory-fixtures';

const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('the description of an intermediate', () => {
  it('is the text the EBS copier looks for, written by the EC2 agent for snapshots and images', async () => {
    expect(INTERMEDIATE_DESCRIPTION).toBe('Bunker intermediate of ');
    const clock = new ManualClock(T0);
    const world = new MemoryEc2World({ clock });
    const source = world.sourceEc2(SOURCE, REGION);
    // The double keeps no descriptions: read what the agent asks EC2 to write.
    const descriptions: string[] = [];
    const ec2: SourceEc2 = {
      ...source,
      copySnapshot: (request: Parameters<SourceEc2['copySnapshot']>[0]) => {
        descriptions.push(request.description);
        return source.copySnapshot(request);
      },
      copyImage: (request: Parameters<SourceEc2['copyImage']>[0]) => {
        descriptions.push(request.description);
        return source.copyImage(request);
      },
    };
    const deps: Ec2AgentDeps = {
      settings: {
        prefix: 'bunker',
        partition: 'aws',
        backupAccount: BACKUP,
        sourceAccount: SOURCE,
        sourceRegion: REGION,
        shareKeyArn: world.createKey(SOURCE, REGION, 'bunker-share', [BACKUP]),
        intakeTopicArn: topicOf(SOURCE),
        scopes: { 'ebs-snapshot': BY_TAG, ami: BY_TAG },
        intermediateRetentionHours: 24,
        intermediateHorizonHours: 336,
        maxIntermediateSnapshots: 10,
        rpoHours: {},
      },
      ec2,
      publisher: new MemoryPublisher().topic(topicOf(SOURCE)),
      clock,
      log: quiet,
    };
    const snapshot = world.addSnapshot(SOURCE, REGION, {
      volumeId: world.addVolume(SOURCE, REGION, { tags: IN_SCOPE }),
    });
    const root = world.addSnapshot(SOURCE, REGION, { volumeId: world.addVolume(SOURCE, REGION, { tags: {} }) });
    const image = world.addImage(SOURCE, REGION, { name: 'orders-server', snapshotIds: [root.id], tags: IN_SCOPE });

    await processEbsSnapshot(snapshot.id, deps);
    await processImage(image.id, deps);

    expect(descriptions).toEqual([
      `Bunker intermediate of ${snapshot.id}, shareable with 111111111111`,
      `Bunker intermediate of ${image.id}, shareable with 111111111111`,
    ]);
  });
});
