/**
 * The exact commands that make one recovered copy usable in the recovery
 * account: one module for `bunker recover`'s next steps and `bunker
 * runbook`'s steps, so the two never disagree.
 *
 * Snapshot kinds, run with the recovery account's credentials: copy the
 * shared copy under the recovery account's own key (`$KMS_KEY`), so nothing
 * there depends on the backup-data key once the grant is revoked; restore
 * it; then point what used the old identifiers at the new ones (endpoints in
 * parameters and secrets are rewritten by `bunker restore --rewrite`).
 * Pulled kinds need no share: `bunker restore`, run with the backup
 * account's and the recovery account's credentials, writes them directly.
 *
 * Every identifier that came from outside is shell-quoted, so a runbook
 * pasted into a terminal runs the command it shows and nothing else.
 */
import type { ArtifactKind } from '../../../lib/config/schema';
import { isPulledKind } from './choose';
import type { RecoveryCopy } from './types';

/** Where the commands restore to; unknown parts are left as shell variables set at the top of a runbook. */
export interface CommandSettings {
  readonly backupAccount: string;
  readonly partition: string;
  /** The lost production account. */
  readonly account: string;
  readonly toAccount?: string;
  readonly toRegion?: string;
  /** Passed on to the `bunker restore` commands (the emulator). */
  readonly configFile?: string;
  readonly endpoint?: string;
}

/** One unit of work: the commands that bring back `copies` (one snapshot copy, or one pulled kind's resources). */
export interface CommandStep {
  readonly kind: ArtifactKind;
  readonly sourceRegion: string;
  readonly copies: readonly RecoveryCopy[];
  readonly title: string;
  readonly commands: readonly string[];
}

/** The shell variables a runbook asks the operator to set first, and what each is. */
export const COMMAND_VARIABLES: Readonly<Record<string, string>> = {
  KMS_KEY:
    "the recovery account's own KMS key to copy under (ARN); to make one there: " +
    "aws kms create-key --description 'recovered copies' --query KeyMetadata.Arn --output text",
  TO_ACCOUNT: 'the recovery account',
  TO_REGION: 'the Region to restore into',
  DB_INSTANCE_CLASS: 'the DB instance class of a restored Aurora cluster (e.g. db.r6g.large)',
  AVAILABILITY_ZONE: 'the Availability Zone for restored volumes (e.g. eu-west-1a)',
  INSTANCE_TYPE: 'the instance type to launch a restored image with (e.g. t3.medium)',
  SUBNET_ID: 'the subnet to launch a restored image in',
};

/** `value` as one shell word: bare when it is plainly safe, single-quoted otherwise. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@=+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A shell variable name for a per-step result (`SNAP_VOL_0ABC`). */
const variable = (prefix: string, resource: string) =>
  `${prefix}_${resource.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`.slice(0, 60);

/** The copy's ARN, from the inventory, or built from the backup account when the record has none. */
function copyArn(copy: RecoveryCopy, settings: CommandSettings): string {
  if (copy.copyArn) return copy.copyArn;
  const type = copy.kind === 'aurora' ? 'cluster-snapshot' : 'snapshot';
  return `arn:${settings.partition}:rds:${copy.copyRegion}:${settings.backupAccount}:${type}:${copy.copyId}`;
}

/** An RDS identifier for what is restored: the production resource's own name when it is a valid one. */
const rdsName = (resource: string, suffix = '') =>
  `${resource
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^[^a-z]+/, 'r')
    .replace(/-+/g, '-')
    .slice(0, 63 - suffix.length)}${suffix}`.replace(/-+$/, '');

function snapshotCommands(copy: RecoveryCopy, settings: CommandSettings): string[] {
  const region = `--region ${settings.toRegion ? shellWord(settings.toRegion) : '"$TO_REGION"'}`;
  const crossRegion = settings.toRegion !== copy.copyRegion ? ` --source-region ${copy.copyRegion}` : '';
  switch (copy.kind) {
    case 'rds': {
      const name = rdsName(copy.resource);
      const recovered = rdsName(copy.resource, '-recovered');
      return [
        `aws rds copy-db-snapshot ${region}${crossRegion} --source-db-snapshot-identifier ${shellWord(copyArn(copy, settings))} ` +
          `--target-db-snapshot-identifier ${recovered} --kms-key-id "$KMS_KEY" --copy-tags`,
        `aws rds wait db-snapshot-available ${region} --db-snapshot-identifier ${recovered}`,
        `aws rds restore-db-instance-from-db-snapshot ${region} --db-instance-identifier ${name} ` +
          `--db-snapshot-identifier ${recovered} --no-publicly-accessible`,
        `aws rds wait db-instance-available ${region} --db-instance-identifier ${name}`,
      ];
    }
    case 'aurora': {
      const name = rdsName(copy.resource);
      const recovered = rdsName(copy.resource, '-recovered');
      const engine = shellWord(copy.engine ?? 'aurora-postgresql');
      return [
        `aws rds copy-db-cluster-snapshot ${region}${crossRegion} --source-db-cluster-snapshot-identifier ` +
          `${shellWord(copyArn(copy, settings))} --target-db-cluster-snapshot-identifier ${recovered} --kms-key-id "$KMS_KEY" --copy-tags`,
        `aws rds wait db-cluster-snapshot-available ${region} --db-cluster-snapshot-identifier ${recovered}`,
        `aws rds restore-db-cluster-from-snapshot ${region} --db-cluster-identifier ${name} --snapshot-identifier ${recovered} --engine ${engine}`,
        `aws rds create-db-instance ${region} --db-cluster-identifier ${name} --db-instance-identifier ${rdsName(copy.resource, '-1')} ` +
          `--engine ${engine} --db-instance-class "$DB_INSTANCE_CLASS" --no-publicly-accessible`,
        `aws rds wait db-instance-available ${region} --db-instance-identifier ${rdsName(copy.resource, '-1')}`,
      ];
    }
    case 'ebs': {
      const snap = variable('SNAP', copy.resource);
      return [
        `${snap}=$(aws ec2 copy-snapshot ${region} --source-region ${copy.copyRegion} --source-snapshot-id ${shellWord(copy.copyId)} ` +
          `--encrypted --kms-key-id "$KMS_KEY" --description ${shellWord(`recovered ${copy.resource}`)} --query SnapshotId --output text)`,
        `aws ec2 wait snapshot-completed ${region} --snapshot-ids "$${snap}"`,
        `aws ec2 create-volume ${region} --snapshot-id "$${snap}" --availability-zone "$AVAILABILITY_ZONE" ` +
          `--tag-specifications ${shellWord(`ResourceType=volume,Tags=[{Key=recovered-from,Value=${copy.resource}}]`)}`,
      ];
    }
    case 'ami': {
      const image = variable('IMAGE', copy.resource);
      return [
        `${image}=$(aws ec2 copy-image ${region} --source-region ${copy.copyRegion} --source-image-id ${shellWord(copy.copyId)} ` +
          `--name ${shellWord(`recovered-${copy.resource}`.slice(0, 128))} --encrypted --kms-key-id "$KMS_KEY" --query ImageId --output text)`,
        `aws ec2 wait image-available ${region} --image-ids "$${image}"`,
        `aws ec2 run-instances ${region} --image-id "$${image}" --instance-type "$INSTANCE_TYPE" --subnet-id "$SUBNET_ID"`,
      ];
    }
    default:
      return [];
  }
}

/** `bunker restore …` for one pulled kind of one source Region (a table: one table). */
function pulledCommand(kind: ArtifactKind, sourceRegion: string, table: string | undefined, settings: CommandSettings) {
  const target = settings.toAccount ?? '"$TO_ACCOUNT"';
  const region = settings.toRegion ?? '"$TO_REGION"';
  const rewrites = [
    `--rewrite ${settings.account}=${target}`,
    ...(settings.toRegion !== sourceRegion ? [`--rewrite ${sourceRegion}=${region}`] : []),
  ];
  const local = [
    ...(settings.configFile ? [`--config ${shellWord(settings.configFile)}`] : []),
    ...(settings.endpoint ? [`--endpoint ${shellWord(settings.endpoint)}`] : []),
  ];
  const base = `--account ${settings.account} --region ${sourceRegion} --to-account ${target} --to-region ${region}`;
  if (kind === 'dynamodb' && table) {
    return [
      `bunker restore dynamodb ${base} --table ${shellWord(table)} --to-table ${shellWord(table)} ${rewrites.join(' ')}${local.length ? ` ${local.join(' ')}` : ''}`,
    ];
  }
  return [`bunker restore ${kind} ${base} ${rewrites.join(' ')}${local.length ? ` ${local.join(' ')}` : ''}`];
}

const TITLES: Record<ArtifactKind, string> = {
  rds: 'RDS database',
  aurora: 'Aurora cluster',
  ebs: 'EBS volume',
  ami: 'AMI',
  ssm: 'SSM parameters',
  secrets: 'Secrets Manager secrets',
  dynamodb: 'DynamoDB table',
};

/**
 * The steps that bring back `copies`: one per snapshot copy, one per pulled
 * kind and source Region for parameters and secrets (one `bunker restore`
 * writes them all), one per table.
 */
export function commandSteps(copies: readonly RecoveryCopy[], settings: CommandSettings): CommandStep[] {
  const steps: CommandStep[] = [];
  const grouped = new Map<string, RecoveryCopy[]>();
  for (const copy of copies) {
    if (!isPulledKind(copy.kind) || copy.kind === 'dynamodb') {
      const table = copy.kind === 'dynamodb';
      steps.push({
        kind: copy.kind,
        sourceRegion: copy.sourceRegion,
        copies: [copy],
        title: `${TITLES[copy.kind]} ${copy.resource} (${copy.sourceRegion}) from ${copy.copyId}`,
        commands: table
          ? pulledCommand(copy.kind, copy.sourceRegion, copy.resource, settings)
          : snapshotCommands(copy, settings),
      });
      continue;
    }
    const key = `${copy.kind}|${copy.sourceRegion}`;
    grouped.set(key, [...(grouped.get(key) ?? []), copy]);
  }
  for (const group of grouped.values()) {
    const [{ kind, sourceRegion }] = group;
    steps.push({
      kind,
      sourceRegion,
      copies: group,
      title: `${TITLES[kind]} of ${sourceRegion} (${group.length})`,
      commands: pulledCommand(kind, sourceRegion, undefined, settings),
    });
  }
  return steps;
}
