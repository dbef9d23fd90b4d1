/**
 * A lost notification recovered by the vault's sweep, on the emulator: the
 * real source agents (RDS and EBS, the SDK adapters as the agent's role)
 * make and share their intermediates, but every notification they publish
 * is lost; the sweep handler, wired with the real adapters as the vault,
 * lists what the source shares, takes it in and copies it. The copies are
 * read back in the backup account with boto3, never through Bunker's code.
 *
 * Listing another account's shared snapshots and copying them rely on
 * Bunker's launcher extension of the emulator (tools/moto/bunker_moto.py).
 */
import { CreateSnapshotCommand, CreateVolumeCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { agentDeps } from '../../lambdas/adapters/wiring';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { processEbsSnapshot } from '../../lambdas/core/agent/ec2-agent';
import { sourceNames } from '../../lambdas/core/names';
import type { SweepSummary } from '../../lambdas/core/pipeline/completion';
import { type AgentStep, processSnapshot } from '../../lambdas/core/rds-source-agent';
import { silentLog } from '../../lambdas/core/ports';
import { createSweepHandler } from '../../lambdas/handlers/sweep';
import { sourceSettings } from '../../lib/config/runtime';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import {
  bunkerConfig,
  createDatabase,
  createSnapshot,
  inventory,
  REGION,
  realVaultDeps,
  TestClients,
} from './support/bunker';
import { Ec2Accounts } from './support/ec2';

const TAKEN_IN = 'taken in by the sweep: shared with the backup account but never announced';

/** A Bunker copy in the backup account, as boto3 reads it. */
interface HeldCopy {
  readonly id: string;
  readonly kmsKeyId: string;
  readonly sourceId: string;
}

/** The backup account's own RDS snapshots and EBS snapshots that Bunker made, read with boto3. */
async function heldCopies(endpoint: string, backup: string): Promise<{ rds: HeldCopy[]; ebs: HeldCopy[] }> {
  return boto3(
    endpoint,
    backup,
    `def tags(items):
    return {t['Key']: t['Value'] for t in items or []}
rds = [
    {'id': s['DBSnapshotIdentifier'], 'kmsKeyId': s.get('KmsKeyId', ''), 'sourceId': tags(s.get('TagList')).get('bunker:source-id', '')}
    for s in client('rds').describe_db_snapshots(SnapshotType='manual')['DBSnapshots']
    if tags(s.get('TagList')).get('bunker:managed-by') == 'bunker'
]
ebs = [
    {'id': s['SnapshotId'], 'kmsKeyId': s.get('KmsKeyId', ''), 'sourceId': tags(s.get('Tags')).get('bunker:source-id', '')}
    for s in client('ec2').describe_snapshots(OwnerIds=['self'])['Snapshots']
    if tags(s.get('Tags')).get('bunker:managed-by') == 'bunker'
]
out({'rds': rds, 'ebs': ebs})`,
  );
}

describe('a lost notification is recovered by the sweep (bunker moto launcher)', () => {
  const endpoint = emulatorEndpoint();
  const backup = freshAccountId();
  const source = freshAccountId();
  const config = bunkerConfig(backup, [source], { artifacts: { rds: { enabled: true }, ebs: { enabled: true } } });
  const aws = new TestClients(endpoint);
  const ec2Accounts = new Ec2Accounts(endpoint);

  let env: LocalEnvironment;
  let lost = 0;
  let beforeSweep: InventoryRecord[];
  /** The agent's intermediates: the RDS one by its deterministic name (written out), the EBS one read back. */
  const intermediates = { rds: 'bunker-share-orders-manual-4c2001710a', ebs: '' };
  let first: SweepSummary;
  let second: SweepSummary;
  /** The backup account's copies after both sweeps. */
  let held: { rds: HeldCopy[]; ebs: HeldCopy[] };

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    const context = await localContext(endpoint, source, REGION, sourceNames(config.name, REGION).agentRole);
    const settings = sourceSettings(config, source, REGION, env.sources[0].shareKeyArn);
    const agent = agentDeps(settings, context, silentLog);
    // SNS lost every notification: the agent shares and believes it announced.
    const publisher = { publish: async () => void (lost += 1) };
    const repeat = async (step: () => Promise<AgentStep>) => {
      for (let i = 0; i < 3; i += 1) if ((await step()) === 'notified') return;
      throw new Error('the source agent never shared its intermediate');
    };

    const sourceRds = aws.rds(source);
    await createDatabase(sourceRds, { id: 'orders', inScope: true });
    await createSnapshot(sourceRds, 'orders', 'orders-manual');
    await repeat(() => processSnapshot('orders-manual', { ...agent, publisher }));

    const sourceEc2 = ec2Accounts.account(source).ec2;
    const { VolumeId } = await sourceEc2.send(
      new CreateVolumeCommand({
        AvailabilityZone: `${REGION}a`,
        Size: 8,
        Encrypted: true,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'bunker:backup', Value: 'true' }] }],
      }),
    );
    const { SnapshotId = '' } = await sourceEc2.send(new CreateSnapshotCommand({ VolumeId }));
    if (!agent.ec2Deps) throw new Error('the agent handles no EC2 kind');
    const ec2Deps = { ...agent.ec2Deps, publisher };
    await repeat(() => processEbsSnapshot(SnapshotId, ec2Deps));

    beforeSweep = await inventory(config, endpoint);
    const sweep = createSweepHandler(await realVaultDeps(config, env, endpoint));
    first = await sweep();
    second = await sweep();
    held = await heldCopies(endpoint, backup);
    // The EBS intermediate's id is EC2's: read it as the source account, without Bunker's code.
    intermediates.ebs = await boto3<string>(
      endpoint,
      source,
      `out([s['SnapshotId'] for s in client('ec2').describe_snapshots(OwnerIds=['self'])['Snapshots']
     if s.get('Description', '').startswith('Bunker intermediate of ')][0])`,
    );
  }, 120_000);

  afterAll(() => {
    aws.destroy();
    ec2Accounts.destroy();
  });

  it('loses both notifications: nothing reached intake or the inventory', () => {
    expect(lost).toBe(2);
    expect(beforeSweep).toEqual([]);
  });

  it('takes in the shared RDS and EBS intermediates and copies them under the backup-data key', () => {
    expect(first.takenIn).toBe(2);
    expect(held.rds.map((c) => c.sourceId)).toEqual([intermediates.rds]);
    expect(held.ebs.map((c) => c.sourceId)).toEqual([intermediates.ebs]);
    for (const copy of [...held.rds, ...held.ebs]) expect(copy.kmsKeyId).toBe(env.backupKeyArn);
  });

  it('records each as taken in by the sweep, and available', async () => {
    const records = await inventory(config, endpoint);

    expect(records.map((r) => [r.artifactId, r.status]).sort()).toEqual(
      [
        [`ebs-snapshot:${source}:${REGION}:${intermediates.ebs}`, 'available'],
        [`rds-snapshot:${source}:${REGION}:${intermediates.rds}`, 'available'],
      ].sort(),
    );
    for (const record of records) expect(record.history[0]).toMatchObject({ status: 'expected', reason: TAKEN_IN });
  });

  it('takes nothing in twice: the next sweep finds both in the inventory', () => {
    expect(second.takenIn).toBe(0);
    expect(held.rds).toHaveLength(1);
    expect(held.ebs).toHaveLength(1);
  });
});
