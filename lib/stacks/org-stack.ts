/**
 * The organization-wide rollout, deployed in the organization's management
 * account (or a delegated administrator for CloudFormation StackSets):
 *
 * - a service-managed StackSet that deploys the source stack to every
 *   account of the configured organizational units, now and as accounts
 *   join (auto-deployment), in the units' Regions. Its template is the
 *   listed sources' stack body made account-agnostic: the account is
 *   `AWS::AccountId`, and the account-wide roles (reader, puller) exist only
 *   in the roles Region, by a CloudFormation condition on `AWS::Region`,
 *   since one template serves every Region;
 * - the org-reader role the vault's enrolment function assumes to list the
 *   units' accounts, allowed four read-only Organizations actions;
 * - per Region, a bucket the StackSet's Lambda code is copied to
 *   ({@link OrgAssetsStack}): CloudFormation in a member account cannot
 *   read the management account's CDK bootstrap assets, and Lambda reads
 *   its code from a bucket of the function's own Region.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { App, Aws, CfnCondition, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Capability, DeploymentType, StackSet, StackSetStack, StackSetTarget, StackSetTemplate } from 'cdk-stacksets';
import type { Construct } from 'constructs';
import {
  defaultStackSetName,
  enrolmentRoleName,
  orgReaderRoleName,
  orgStackName,
} from '../../lambdas/core/enrolment/names';
import type { BunkerConfig, OrganizationConfig } from '../config/schema';
import { organizationOf, unitRegions } from '../constructs/enrolment';
import { acknowledge, NAG_PACK } from '../constructs/nag';
import { addSourceResources, type SourceResources } from './source-stack';

/** The Organizations actions of the org-reader role: listing and describing, nothing else. */
export const ORG_READER_ACTIONS = [
  'organizations:DescribeAccount',
  'organizations:ListAccountsForParent',
  'organizations:ListChildren',
  'organizations:ListParents',
] as const;

/** The Region whose stack instance makes an enrolled account's account-wide roles: every unit's first Region. */
export function rolesRegion(organization: OrganizationConfig): string {
  return organization.units[0].regions[0];
}

/** The common prefix of the per-Region asset buckets: `<prefix>-<region>` each. */
export function assetBucketPrefix(config: BunkerConfig): string {
  return `${config.name}-stackset-${organizationOf(config).managementAccount}`;
}

export function orgAssetsStackName(prefix: string, region: string): string {
  return `${orgStackName(prefix)}-assets-${region}`;
}

export interface OrgAssetsStackProps extends StackProps {
  readonly config: BunkerConfig;
  readonly region: string;
}

/**
 * One Region's asset bucket in the management account: the org stack copies
 * the StackSet's Lambda code here, and only principals of the organization
 * may read it (the StackSet's execution roles in the member accounts).
 */
export class OrgAssetsStack extends Stack {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: OrgAssetsStackProps) {
    const { config, region, ...stackProps } = props;
    const organization = organizationOf(config);
    super(scope, id, {
      stackName: orgAssetsStackName(config.name, region),
      description: `Bunker (${config.name}): the source StackSet's Lambda code in ${region}, readable by the organization`,
      ...stackProps,
      env: { account: organization.managementAccount, region },
    });
    this.bucket = new s3.Bucket(this, 'Assets', {
      bucketName: `${assetBucketPrefix(config)}-${region}`,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OrganizationReadsStackSetAssets',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:PrincipalOrgID': organization.id } },
      }),
    );
    acknowledge(
      this.bucket,
      `${NAG_PACK}-S1`,
      'Holds only the source agent code the StackSet deploys, copied by the org stack; CloudFormation and CloudTrail already record who deploys it.',
    );
  }
}

export interface OrgStackProps extends StackProps {
  readonly config: BunkerConfig;
}

/** The source stack as the StackSet deploys it, one template for every account and Region of the units. */
export class SourceStackSetStack extends StackSetStack {
  public readonly source: SourceResources;
  /** True in the roles Region only. */
  public readonly rolesCondition: CfnCondition;

  constructor(scope: Construct, id: string, config: BunkerConfig, assetBuckets: s3.IBucket[]) {
    super(scope, id, { assetBuckets, assetBucketPrefix: assetBucketPrefix(config) });
    this.tolerateSkippedBundling();
    const organization = organizationOf(config);
    this.rolesCondition = new CfnCondition(this, 'AccountWideRolesRegion', {
      expression: Fn.conditionEquals(Aws.REGION, rolesRegion(organization)),
    });
    this.source = addSourceResources(this, {
      config,
      sourceAccount: Aws.ACCOUNT_ID,
      region: Aws.REGION,
      regions: unitRegions(config),
      roles: this.rolesCondition,
    });
  }

  /**
   * With bundling skipped (template tests), CDK names an asset by its source
   * path, which cdk-stacksets cannot copy; a placeholder in the output
   * directory stands in, as bundling-skipped assets do elsewhere. A real
   * synthesis bundles, and nothing changes.
   */
  private tolerateSkippedBundling(): void {
    if (this.bundlingRequired) return;
    const synthesizer = this.synthesizer;
    const add = synthesizer.addFileAsset.bind(synthesizer);
    synthesizer.addFileAsset = (asset) => {
      if (!asset.fileName || !isAbsolute(asset.fileName)) return add(asset);
      const outdir = App.of(this)?.outdir ?? 'cdk.out';
      const fileName = 'asset.bundling-skipped';
      mkdirSync(join(outdir, fileName), { recursive: true });
      writeFileSync(join(outdir, fileName, 'README'), 'Bundling was skipped for this synthesis.\n');
      return add({ ...asset, fileName });
    };
  }
}

export class OrgStack extends Stack {
  public readonly orgReaderRole: iam.Role;
  public readonly stackSet: StackSet;
  public readonly template: SourceStackSetStack;

  constructor(scope: Construct, id: string, props: OrgStackProps) {
    const { config, ...stackProps } = props;
    const organization = organizationOf(config);
    super(scope, id, {
      stackName: orgStackName(config.name),
      description: `Bunker (${config.name}): source stacks for the accounts of organizational units, and the vault's org-reader role`,
      ...stackProps,
      env: { account: organization.managementAccount, region: config.backup.region },
    });
    const backup = config.backup.account;

    this.orgReaderRole = new iam.Role(this, 'OrgReaderRole', {
      roleName: orgReaderRoleName(config.name),
      description: `Bunker (${config.name}): lets the vault's enrolment function in ${backup} list the accounts of the configured units`,
      assumedBy: new iam.AccountPrincipal(backup).withConditions({
        ArnEquals: { 'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::${backup}:role/${enrolmentRoleName(config.name)}` },
      }),
      maxSessionDuration: Duration.hours(1),
    });
    const readPolicy = new iam.Policy(this, 'OrgReaderPolicy', {
      roles: [this.orgReaderRole],
      statements: [new iam.PolicyStatement({ actions: [...ORG_READER_ACTIONS], resources: ['*'] })],
    });
    acknowledge(
      readPolicy,
      `${NAG_PACK}-IAM5[Resource::*]`,
      'Four read-only Organizations actions (list and describe accounts and units); the units are chosen at run time from the configuration and the role can change nothing.',
    );

    const regions = unitRegions(config);
    const buckets = regions.map((region) =>
      s3.Bucket.fromBucketName(this, `Assets-${region}`, `${assetBucketPrefix(config)}-${region}`),
    );
    this.template = new SourceStackSetStack(this, 'SourceTemplate', config, buckets);

    this.stackSet = new StackSet(this, 'SourceStackSet', {
      stackSetName: organization.stackSetName ?? defaultStackSetName(config.name),
      description: `Bunker source (${config.name}): share key, agent and (in ${rolesRegion(organization)}) the reader role of every account of the units`,
      template: StackSetTemplate.fromStackSetStack(this.template),
      deploymentType: DeploymentType.serviceManaged({
        // A new account of a unit gets its stack instances without anyone deploying.
        autoDeployEnabled: true,
        // An account that leaves the units loses its agent (which would announce into a vault that no longer
        // accepts it); its keys are retained by their own removal policy, so shared intermediates stay readable.
        autoDeployRetainStacks: false,
        delegatedAdmin: organization.delegatedAdmin,
      }),
      capabilities: [Capability.NAMED_IAM],
      managedExecution: true,
      operationPreferences: { maxConcurrentPercentage: 25, failureTolerancePercentage: 10 },
    });
    this.acknowledgeAssetCopy(config, regions);
    for (const unit of organization.units) {
      this.stackSet.addTarget(
        StackSetTarget.fromOrganizationalUnits({ organizationalUnits: [unit.id], regions: [...unit.regions] }),
      );
    }
  }

  /**
   * cdk-stacksets copies the StackSet's Lambda code from the CDK bootstrap
   * bucket to each Region's asset bucket with CDK's BucketDeployment, whose
   * singleton function is made at synthesis; its findings, each named.
   */
  private acknowledgeAssetCopy(config: BunkerConfig, regions: readonly string[]): void {
    const why =
      "CDK's BucketDeployment (used by cdk-stacksets) copying the StackSet's Lambda code into the asset buckets at deployment only";
    acknowledge(
      this,
      `${NAG_PACK}-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]`,
      `${why}: the managed policy lets its function write its own logs.`,
    );
    acknowledge(
      this,
      `${NAG_PACK}-L1`,
      `${why}: CDK pins that function's runtime; Bunker's own functions use the newest.`,
    );
    for (const action of ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*']) {
      acknowledge(
        this,
        `${NAG_PACK}-IAM5[Action::${action}]`,
        `${why}: the action families Bucket.grantRead and grantReadWrite give it on the buckets below only.`,
      );
    }
    const buckets = [
      `cdk-hnb659fds-assets-${this.account}-${this.region}`,
      ...regions.map((region) => `${assetBucketPrefix(config)}-${region}`),
    ];
    for (const bucket of buckets) {
      acknowledge(
        this,
        `${NAG_PACK}-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket}/*]`,
        `${why}: the objects of the CDK bootstrap bucket it reads from and of the asset buckets it writes to.`,
      );
    }
  }
}
