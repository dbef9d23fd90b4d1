/**
 * What the CDK app deploys, asserted on the synthesized templates: who may
 * publish, which key encrypts what, who may assume or delete what. The app
 * is built once, with cdk-nag attached, and every test reads the result.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { intakeTopicArn, intakeTopicName, sourceNames, vaultNames, vaultRoleArns } from '../../lambdas/core/names';
import { INTAKE_MAX_CONCURRENCY } from '../../lib/stacks/vault-stack';
import type { BunkerApp } from '../../lib/app';
import { parseConfig } from '../../lib/config/load';
import type { BunkerConfigInput } from '../../lib/config/schema';
import { SOURCE_EVENT_IDS } from '../../lib/stacks/source-stack';
import {
  actionsOf,
  asArray,
  conditionValues,
  type FoundStatement,
  flatten,
  logicalIds,
  policyStatements,
  principalIsAccount,
  principalsOf,
  referencedId,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, PAYMENTS, STOREFRONT, synthesize } from './support/synth';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = [PAYMENTS, STOREFRONT];

const document: BunkerConfigInput = {
  ...baseDocument,
  // Every snapshot kind: the rules, grants and reader actions are built from the kind registry.
  artifacts: { rds: { enabled: true }, aurora: { enabled: true }, ebs: { enabled: true }, ami: { enabled: true } },
};
const config = parseConfig(document, 'test config');
const names = vaultNames(config.name);

let outdir: string;
let built: BunkerApp;
let synthError: unknown;
let vault: TemplateJson;
/** Source templates by `account/region`. */
let sources: Map<string, TemplateJson>;

beforeAll(() => {
  // With the Lambda code bundled, as a deployment synthesizes it (bundling is part of what must succeed).
  ({ outdir, built, synthError, vault, sources } = synthesize(document, { bundle: true }));
});

const resourcesOf = (template: TemplateJson, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

/** The logical id of the KMS key behind an alias. */
function keyByAlias(template: TemplateJson, alias: string): string {
  const [aliasId] = logicalIds(template, 'AWS::KMS::Alias', (props) => props.AliasName === alias);
  expect(aliasId, `alias ${alias}`).toBeDefined();
  const target = referencedId(template.Resources[aliasId].Properties?.TargetKeyId);
  if (!target) throw new Error(`alias ${alias} does not point to a key of the template`);
  return target;
}

function statementsOf(template: TemplateJson, logicalId: string, property?: string): FoundStatement[] {
  return policyStatements(template).filter(
    (found) => found.logicalId === logicalId && (property === undefined || found.property === property),
  );
}

describe('the CDK app', () => {
  it('synthesizes the vault and every source stack with no unacknowledged cdk-nag finding', () => {
    expect(synthError).toBeUndefined();
    expect(built.sources.map((stack) => stack.stackName)).toEqual([
      `bunker-source-${PAYMENTS}-eu-west-1`,
      `bunker-source-${STOREFRONT}-eu-central-1`,
      `bunker-source-${STOREFRONT}-eu-west-1`,
    ]);
    expect(built.vault.stackName).toBe(names.stack);
    expect(built.vault.terminationProtection).toBe(true);
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('gives every cdk-nag acknowledgement a reason and a finding it covers, on the resource itself', () => {
    const acknowledgements = built.app.node.findAll().flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) =>
          Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
            path: construct.node.path,
            id: id.replace(/^annotation::/i, ''),
            reason,
          })),
        ),
    );
    expect(acknowledgements.length).toBeGreaterThan(0);

    // cdk-nag has no public switch to report acknowledged findings: turn its
    // acknowledgement lookup off to see every finding the app would raise.
    const pack = new AwsSolutionsChecks();
    Object.assign(pack, { isAcknowledged: () => false });
    const raw = pack.validateScope(built.app).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({
        id: violation.ruleName,
        path: resource.constructPath ?? '',
      })),
    );
    const stackPaths = new Set([built.vault, ...built.sources].map((stack) => stack.node.path));
    for (const ack of acknowledgements) {
      expect(ack.reason.trim().length, `${ack.path} ${ack.id}`).toBeGreaterThan(20);
      // One finding at a time (IAM5[...]), never a whole rule or a whole stack.
      expect(ack.id, ack.path).toMatch(/^AwsSolutions-IAM5\[.+\]$/);
      expect(stackPaths.has(ack.path), `${ack.id} acknowledged on a whole stack`).toBe(false);
      const covered = raw.some((finding) => finding.id === ack.id && finding.path.startsWith(`${ack.path}/`));
      expect(covered, `stale acknowledgement ${ack.id} on ${ack.path}`).toBe(true);
    }
  });

  it('allows "*" resources only to X-Ray and read-only RDS Describe calls', () => {
    // The IAM5[Resource::*] acknowledgements cover a whole policy: this keeps
    // them from silently covering a new statement.
    const readOnlyOnStar = [
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'rds:DescribeDBSnapshots',
      'rds:DescribeDBInstances',
      'rds:DescribeDBSnapshotAttributes',
      'rds:DescribeDBClusterSnapshots',
      'rds:DescribeDBClusters',
      'rds:DescribeDBClusterSnapshotAttributes',
      'rds:ListTagsForResource',
      'ec2:DescribeSnapshots',
      'ec2:DescribeLockedSnapshots',
      'ec2:DescribeSnapshotAttribute',
      'ec2:DescribeVolumes',
      'ec2:DescribeImages',
      'ec2:DescribeImageAttribute',
      'ec2:DescribeTags',
      // bunker coverage's metadata listings through the reader role (test/infra/coverage-reader.test.ts).
      'dynamodb:DescribeContinuousBackups',
      'dynamodb:DescribeTable',
      'dynamodb:ListTables',
      'dynamodb:ListTagsOfResource',
      'ec2:DescribeRegions',
      'kms:ListAliases',
      'rds:DescribeOptionGroups',
      'secretsmanager:ListSecrets',
      'ssm:DescribeParameters',
      'tag:GetResources',
    ];
    // The drills' roles only (test/infra/drills.test.ts): EC2's Describe calls, and Step Functions'
    // log delivery and X-Ray sampling, which AWS authorizes only on "*".
    const drillsOnStar = [
      'ec2:DescribeInstances',
      'ec2:DescribeInstanceStatus',
      'ec2:DescribeSubnets',
      'ec2:DescribeSecurityGroups',
      // The engine probe's network interfaces in the drill VPC (Lambda's VPC attachment).
      'ec2:DescribeNetworkInterfaces',
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
    ];
    for (const template of [vault, ...sources.values()]) {
      const identity = policyStatements(template).filter((found) => found.type === 'AWS::IAM::Policy');
      expect(identity.length).toBeGreaterThan(0);
      for (const { statement, logicalId } of identity) {
        if (!asArray(statement.Resource).includes('*')) continue;
        const allowed = logicalId.startsWith('Drills') ? [...readOnlyOnStar, ...drillsOnStar] : readOnlyOnStar;
        for (const action of actionsOf(statement)) expect(allowed, `${logicalId} ${action}`).toContain(action);
      }
    }
  });

  it('fails with the key path when the backup account is also listed as a source', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bunker-config-')), 'bunker.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...document,
        sources: [...(document.sources ?? []), { account: BACKUP, regions: ['eu-west-1'] }],
      }),
    );
    const run = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), ['bin/bunker-app.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: file }), CDK_OUTDIR: outdir },
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('sources[2].account');
    expect(run.stderr).toContain('backup account');
  });
});

describe('the vault stack', () => {
  it("gives each source account its own intake topic that only that account's agents may publish to", () => {
    for (const source of config.sources) {
      const [topicId] = logicalIds(
        vault,
        'AWS::SNS::Topic',
        (props) => props.TopicName === intakeTopicName(config.name, source.account),
      );
      expect(topicId, source.account).toBeDefined();
      const [policyId] = logicalIds(vault, 'AWS::SNS::TopicPolicy', (props) =>
        asArray(props.Topics).some((topic) => referencedId(topic) === topicId),
      );
      const allows = statementsOf(vault, policyId).filter((found) => found.statement.Effect === 'Allow');
      expect(allows.flatMap((found) => principalsOf(found.statement))).toEqual([
        `arn:<AWS::Partition>:iam::${source.account}:root`,
      ]);
      for (const found of allows) expect(actionsOf(found.statement)).toEqual(['sns:Publish']);
      // Only that account's Bunker agents, one per Region, not any principal of the account.
      expect(allows.flatMap((found) => conditionValues(found.statement, 'ArnEquals', 'aws:PrincipalArn'))).toEqual(
        source.regions.map(
          (region) => `arn:<AWS::Partition>:iam::${source.account}:role/${sourceNames('bunker', region).agentRole}`,
        ),
      );
    }
    expect(
      logicalIds(vault, 'AWS::SNS::Topic', (props) => String(props.TopicName).startsWith(names.intakeTopicPrefix)),
    ).toHaveLength(SOURCES.length);
  });

  it('lets only the intake topics write to the intake queue, enveloped so the topic names the sender', () => {
    const [queue] = logicalIds(vault, 'AWS::SQS::Queue', (props) => props.QueueName === names.intakeQueue);
    const [policyId] = logicalIds(vault, 'AWS::SQS::QueuePolicy', (props) =>
      asArray(props.Queues).some((q) => referencedId(q) === queue),
    );
    const statements = statementsOf(vault, policyId).filter((found) => found.statement.Effect === 'Allow');
    expect(statements.flatMap((found) => principalsOf(found.statement))).toEqual(['sns.amazonaws.com']);
    const topics = logicalIds(vault, 'AWS::SNS::Topic', (props) =>
      String(props.TopicName).startsWith(names.intakeTopicPrefix),
    );
    expect(
      statements
        .flatMap((found) => asArray(found.statement.Condition?.ArnEquals?.['aws:SourceArn']).map(referencedId))
        .sort(),
    ).toEqual([...topics].sort());
    const subscriptions = resourcesOf(vault, 'AWS::SNS::Subscription').filter(
      ([, resource]) => resource.Properties?.Protocol === 'sqs',
    );
    expect(subscriptions.map(([, sub]) => referencedId(sub.Properties?.TopicArn)).sort()).toEqual([...topics].sort());
    for (const [id, subscription] of subscriptions) {
      expect(subscription.Properties?.RawMessageDelivery, id).not.toBe(true);
      expect(subscription.Properties?.Endpoint, id).toEqual({ 'Fn::GetAtt': [queue, 'Arn'] });
    }
  });

  it('grants source accounts nothing in the backup account but publishing through SNS', () => {
    const statements = policyStatements(vault);
    const toSources = statements.filter((found) =>
      principalsOf(found.statement).some((principal) =>
        SOURCES.some((account) => principalIsAccount(principal, account)),
      ),
    );
    // The topic policy and the intake key policy, at least: the walk found them.
    expect(new Set(toSources.map((found) => found.type))).toEqual(new Set(['AWS::SNS::TopicPolicy', 'AWS::KMS::Key']));
    for (const { statement, logicalId } of toSources) {
      expect(statement.Effect, logicalId).toBe('Allow');
      expect(statement.NotAction, logicalId).toBeUndefined();
      for (const action of actionsOf(statement)) {
        expect(['sns:Publish', 'kms:GenerateDataKey*', 'kms:Decrypt'], `${logicalId} ${action}`).toContain(action);
        if (action.startsWith('kms:')) {
          expect(conditionValues(statement, 'StringEquals', 'kms:ViaService'), logicalId).toEqual([
            'sns.eu-west-1.amazonaws.com',
          ]);
        }
      }
    }
    // An allow to "*" would include the source accounts too.
    for (const { statement, logicalId } of statements.filter((found) => found.statement.Effect === 'Allow')) {
      expect(principalsOf(statement), logicalId).not.toContain('*');
    }
    for (const [roleId, role] of resourcesOf(vault, 'AWS::IAM::Role')) {
      const trusted = statementsOf(vault, roleId, 'AssumeRolePolicyDocument').flatMap((found) =>
        principalsOf(found.statement),
      );
      expect(trusted.length, roleId).toBeGreaterThan(0);
      for (const principal of trusted) {
        expect(
          SOURCES.some((account) => principalIsAccount(principal, account)),
          `${roleId} trusts ${principal}`,
        ).toBe(false);
      }
      expect(role.Properties?.ManagedPolicyArns, roleId).toBeUndefined();
    }
  });

  it('keeps the backup-data key to the backup account, rotated and retained', () => {
    const keyId = keyByAlias(vault, names.backupKeyAlias);
    const key = vault.Resources[keyId];
    expect(key.Properties?.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    // Allowed to the backup account only; its Deny of key changes to everyone is in immutability.test.ts.
    const principals = statementsOf(vault, keyId, 'KeyPolicy')
      .filter((found) => found.statement.Effect === 'Allow')
      .flatMap((found) => principalsOf(found.statement));
    expect(principals.length).toBeGreaterThan(0);
    for (const principal of principals) expect(principal).toBe(`arn:<AWS::Partition>:iam::${BACKUP}:root`);
  });

  it('encrypts the inventory with its own key and the intake with the intake key only', () => {
    const backupKey = keyByAlias(vault, names.backupKeyAlias);
    const intakeKey = keyByAlias(vault, names.intakeKeyAlias);
    const inventoryKey = keyByAlias(vault, 'alias/bunker-inventory');
    const [table] = resourcesOf(vault, 'AWS::DynamoDB::Table');
    const sse = table[1].Properties?.SSESpecification as Record<string, unknown>;
    expect(sse).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
    expect(referencedId(sse.KMSMasterKeyId)).toBe(inventoryKey);

    const topics = logicalIds(vault, 'AWS::SNS::Topic', (props) =>
      String(props.TopicName).startsWith(names.intakeTopicPrefix),
    );
    expect(topics).toHaveLength(SOURCES.length);
    for (const topic of topics) expect(referencedId(vault.Resources[topic].Properties?.KmsMasterKeyId)).toBe(intakeKey);
    for (const queueName of [names.intakeQueue, names.intakeDeadLetterQueue]) {
      const [queue] = logicalIds(vault, 'AWS::SQS::Queue', (props) => props.QueueName === queueName);
      expect(referencedId(vault.Resources[queue].Properties?.KmsMasterKeyId), queueName).toBe(intakeKey);
    }
    // No resource of the stack is encrypted with the backup-data key: the copies are (and pulled data, when enabled).
    const users = Object.entries(vault.Resources)
      .filter(([, resource]) => resource.Type !== 'AWS::KMS::Alias' && resource.Type !== 'AWS::IAM::Policy')
      .filter(([, resource]) => JSON.stringify(resource.Properties ?? {}).includes(`"${backupKey}"`))
      .map(([, resource]) => resource.Type)
      .filter((type) => type !== 'AWS::Lambda::Function'); // its ARN in the settings, not as encryption
    // The key-change alarm names it in its event pattern.
    expect(users).toEqual(['AWS::Events::Rule']);
  });

  it('protects the inventory with point-in-time recovery, deletion protection, a status index and the queue index', () => {
    const [[, table]] = resourcesOf(vault, 'AWS::DynamoDB::Table');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties).toMatchObject({
      TableName: names.inventoryTable,
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
      // Rejected messages expire: a flood cannot grow the table for good.
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: names.inventoryStatusIndex,
          KeySchema: [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'updatedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'by-queue',
          KeySchema: [
            { AttributeName: 'queue', KeyType: 'HASH' },
            { AttributeName: 'queueKey', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('moves an intake message to a dead-letter queue after five receives and keeps it 14 days', () => {
    const [dlq] = logicalIds(vault, 'AWS::SQS::Queue', (props) => props.QueueName === names.intakeDeadLetterQueue);
    const [queue] = logicalIds(vault, 'AWS::SQS::Queue', (props) => props.QueueName === names.intakeQueue);
    const props = vault.Resources[queue].Properties ?? {};
    expect(props.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
      maxReceiveCount: 5,
    });
    expect(vault.Resources[dlq].Properties?.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    const [intake] = logicalIds(vault, 'AWS::Lambda::Function', (p) =>
      flatten(p.Role).includes(logicalIds(vault, 'AWS::IAM::Role', (r) => r.RoleName === names.intakeRole)[0]),
    );
    expect(props.VisibilityTimeout as number).toBeGreaterThanOrEqual(
      6 * (vault.Resources[intake].Properties?.Timeout as number),
    );
  });

  it('reports batch item failures from the intake queue, ten messages at a time, at most five batches at once', () => {
    const [[, mapping]] = resourcesOf(vault, 'AWS::Lambda::EventSourceMapping');
    expect(INTAKE_MAX_CONCURRENCY).toBe(5);
    expect(mapping.Properties).toMatchObject({
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('routes finished and failed snapshot copies to the completion Lambda', () => {
    const [completionRole] = logicalIds(vault, 'AWS::IAM::Role', (props) => props.RoleName === names.completionRole);
    const [completion] = logicalIds(
      vault,
      'AWS::Lambda::Function',
      (props) => referencedId(props.Role) === completionRole,
    );
    const rules = resourcesOf(vault, 'AWS::Events::Rule').filter(([, rule]) =>
      asArray(rule.Properties?.Targets as { Arn: unknown }[]).some((target) => referencedId(target.Arn) === completion),
    );
    // One rule per enabled kind, from the kind registry.
    expect(rules.map(([, rule]) => rule.Properties?.EventPattern)).toEqual([
      {
        source: ['aws.rds'],
        'detail-type': ['RDS DB Snapshot Event'],
        detail: {
          EventID: ['RDS-EVENT-0197', 'RDS-EVENT-0190', 'RDS-EVENT-0060', 'RDS-EVENT-0061'],
          SourceIdentifier: [{ prefix: 'bunker-' }],
        },
      },
      {
        source: ['aws.rds'],
        'detail-type': ['RDS DB Cluster Snapshot Event'],
        detail: { SourceIdentifier: [{ prefix: 'bunker-' }] },
      },
      { source: ['aws.ec2'], 'detail-type': ['EBS Snapshot Notification'], detail: { event: ['copySnapshot'] } },
      { source: ['aws.ec2'], 'detail-type': ['EC2 AMI State Change'], detail: { State: ['available', 'failed'] } },
    ]);
    expect(resourcesOf(vault, 'AWS::Events::Rule').map(([, rule]) => rule.Properties?.ScheduleExpression)).toContain(
      'rate(15 minutes)',
    );
  });

  it('names the vault Lambda roles as the source stacks name them, and lets only intake, the sweep, audit and the operator assume reader roles', () => {
    const roles = resourcesOf(vault, 'AWS::IAM::Role');
    const roleArns = roles.map(([, role]) => `arn:aws:iam::${BACKUP}:role/${role.Properties?.RoleName as string}`);
    // The vault Lambdas' roles, the retention role the pruner runs as, the operator's read-only role, and the
    // role `bunker recover` acts through.
    const retentionRole = `arn:aws:iam::${BACKUP}:role/${config.name}-retention`;
    const operatorRole = `arn:aws:iam::${BACKUP}:role/${config.name}-operator`;
    const recoveryRole = `arn:aws:iam::${BACKUP}:role/${config.name}-recovery`;
    // The drills' roles: the function, the state machine, its schedule, the flow logs and the engine probe
    // (test/infra/drills.test.ts).
    const drillRoles = ['drill', 'drill-states', 'drill-schedule', 'drill-flow-logs', 'drill-probe'].map(
      (role) => `arn:aws:iam::${BACKUP}:role/${config.name}-${role}`,
    );
    expect(roleArns.sort()).toEqual(
      [...vaultRoleArns(config.name, BACKUP), retentionRole, operatorRole, recoveryRole, ...drillRoles].sort(),
    );
    const assumers = roles
      .filter(([roleId]) =>
        policyStatements(vault).some(
          (found) =>
            found.type === 'AWS::IAM::Policy' &&
            asArray(vault.Resources[found.logicalId].Properties?.Roles).some((r) => referencedId(r) === roleId) &&
            actionsOf(found.statement).includes('sts:AssumeRole'),
        ),
      )
      .map(([, role]) => role.Properties?.RoleName);
    expect(assumers.sort()).toEqual([names.auditRole, names.intakeRole, names.operatorRole, names.sweepRole]);
  });

  it('grants no vault Lambda a listing of RDS snapshots beyond what sources share with it in their Regions: sources are read through the reader role', () => {
    for (const { statement, logicalId } of policyStatements(vault).filter((f) => f.type === 'AWS::IAM::Policy')) {
      if (!asArray(statement.Resource).includes('*')) continue;
      // The sweep's listing of what is shared (test/infra/shared-sweep.test.ts), held to the source Regions.
      if (conditionValues(statement, 'StringEquals', 'aws:RequestedRegion').length > 0) continue;
      for (const action of actionsOf(statement)) expect(action, logicalId).not.toMatch(/^rds:/);
    }
  });

  it('runs every Lambda on the newest Node.js runtime on ARM64 with tracing and source maps', () => {
    for (const template of [vault, ...sources.values()]) {
      for (const [id, fn] of resourcesOf(template, 'AWS::Lambda::Function')) {
        expect(fn.Properties, id).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
        });
      }
    }
  });

  it('alarms to the alerts topic on dead letters and on errors of each Lambda', () => {
    const [alertsTopic] = logicalIds(vault, 'AWS::SNS::Topic', (props) => props.TopicName === `${config.name}-alerts`);
    const alarms = resourcesOf(vault, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
    for (const alarm of alarms) {
      expect(asArray(alarm.AlarmActions).map(referencedId)).toEqual([alertsTopic]);
      // The drills' alarms have thresholds of their own (maxAgeDays, a check that stopped): test/infra/drills.test.ts.
      if (String(alarm.AlarmName).startsWith(`${config.name}-drill`)) continue;
      expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    }
    // The auditor's (test/infra/audit.test.ts): breaching and at-risk per enabled kind. The pruner's: copies it refused.
    const ofAudit = (name: unknown) => ['BreachingResources', 'AtRiskResources'].includes(name as string);
    expect(
      alarms
        .filter((alarm) => !String(alarm.AlarmName).startsWith(`${config.name}-drill`))
        .map((alarm) => alarm.MetricName)
        .filter((name) => !ofAudit(name))
        .sort(),
    ).toEqual([
      'ApproximateNumberOfMessagesVisible',
      'CopiesNotBunkers',
      'Errors',
      'Errors',
      'Errors',
      'Errors',
      'Errors',
    ]);
    expect(referencedId(vault.Resources[alertsTopic].Properties?.KmsMasterKeyId)).not.toBe(
      keyByAlias(vault, names.backupKeyAlias),
    );
  });
});

describe('the source stacks', () => {
  const each = () => [...sources.entries()].map(([key, template]) => ({ key, template, account: key.split('/')[0] }));

  it('let the backup account use the share key only to copy through RDS or EC2', () => {
    for (const { key, template, account } of each()) {
      const keyId = keyByAlias(template, sourceNames(config.name, key.split('/')[1]).shareKeyAlias);
      expect(template.Resources[keyId].Properties?.EnableKeyRotation, key).toBe(true);
      const statements = statementsOf(template, keyId, 'KeyPolicy');
      for (const { statement } of statements) {
        const principals = principalsOf(statement);
        const ownRoot = principals.every((principal) => principal === `arn:<AWS::Partition>:iam::${account}:root`);
        if (ownRoot) continue;
        expect(principals, key).toEqual([`arn:<AWS::Partition>:iam::${BACKUP}:root`]);
        for (const action of actionsOf(statement)) {
          expect(['kms:Decrypt', 'kms:DescribeKey', 'kms:CreateGrant'], `${key} ${action}`).toContain(action);
          if (action === 'kms:DescribeKey') continue;
          const via = conditionValues(statement, 'StringEquals', 'kms:ViaService');
          expect(via.length, `${key} ${action}`).toBeGreaterThan(0);
          for (const service of via) expect(service, key).toMatch(/^(rds|ec2)\.[a-z0-9-]+\.amazonaws\.com$/);
          // This Region's service and the vault Region's (a single-step cross-Region copy), nothing else.
          expect(new Set(via.map((service) => service.split('.')[1])), key).toEqual(
            new Set([key.split('/')[1], config.backup.region]),
          );
          if (action === 'kms:CreateGrant') {
            expect(conditionValues(statement, 'Bool', 'kms:GrantIsForAWSResource'), key).toEqual(['true']);
          }
        }
      }
      const granted = statements.filter(({ statement }) =>
        principalsOf(statement).some((principal) => principalIsAccount(principal, BACKUP)),
      );
      expect(granted.flatMap(({ statement }) => actionsOf(statement)).sort(), key).toEqual([
        'kms:CreateGrant',
        'kms:Decrypt',
        'kms:DescribeKey',
      ]);
    }
  });

  it("let only the vault's intake, audit, sweep and operator roles assume the reader role, only to read, the copiers' reads only in the registered Regions", () => {
    const readerName = sourceNames(config.name, 'any').readerRole;
    for (const { key, template } of each()) {
      for (const [roleId] of resourcesOf(template, 'AWS::IAM::Role').filter(
        ([, role]) => role.Properties?.RoleName === readerName,
      )) {
        const trust = statementsOf(template, roleId, 'AssumeRolePolicyDocument');
        expect(trust, key).toHaveLength(1);
        expect(principalsOf(trust[0].statement), key).toEqual([`arn:<AWS::Partition>:iam::${BACKUP}:root`]);
        expect(conditionValues(trust[0].statement, 'ArnEquals', 'aws:PrincipalArn'), key).toEqual([
          `arn:<AWS::Partition>:iam::${BACKUP}:role/${names.intakeRole}`,
          `arn:<AWS::Partition>:iam::${BACKUP}:role/${names.auditRole}`,
          `arn:<AWS::Partition>:iam::${BACKUP}:role/${names.sweepRole}`,
          `arn:<AWS::Partition>:iam::${BACKUP}:role/${names.operatorRole}`,
        ]);
        expect(template.Resources[roleId].Properties?.ManagedPolicyArns, key).toBeUndefined();
        expect(template.Resources[roleId].Properties?.Policies, key).toBeUndefined();
        const policies = resourcesOf(template, 'AWS::IAM::Policy').filter(([, policy]) =>
          asArray(policy.Properties?.Roles).some((role) => referencedId(role) === roleId),
        );
        const statements = policies.flatMap(([policyId]) => statementsOf(template, policyId));
        const actions = statements.flatMap(({ statement }) => actionsOf(statement));
        expect(actions.sort(), key).toEqual([
          'dynamodb:DescribeContinuousBackups',
          'dynamodb:DescribeTable',
          'dynamodb:ListTables',
          'dynamodb:ListTagsOfResource',
          'ec2:DescribeImageAttribute',
          'ec2:DescribeImages',
          'ec2:DescribeRegions',
          'ec2:DescribeSnapshotAttribute',
          'ec2:DescribeSnapshots',
          'ec2:DescribeTags',
          'ec2:DescribeVolumes',
          'kms:ListAliases',
          'rds:DescribeDBClusterSnapshotAttributes',
          'rds:DescribeDBClusterSnapshots',
          'rds:DescribeDBClusters',
          'rds:DescribeDBInstances',
          'rds:DescribeDBSnapshotAttributes',
          'rds:DescribeDBSnapshots',
          'rds:DescribeOptionGroups',
          'rds:ListTagsForResource',
          'secretsmanager:ListSecrets',
          'ssm:DescribeParameters',
          'tag:GetResources',
        ]);
        const account = key.split('/')[0];
        const regions = config.sources.find((source) => source.account === account)?.regions;
        // Coverage's metadata listings in every Region (test/infra/coverage-reader.test.ts), the rest in the registered ones.
        expect(
          statements.map(({ statement }) => [
            statement.Sid,
            conditionValues(statement, 'StringEquals', 'aws:RequestedRegion'),
          ]),
          key,
        ).toEqual([
          ['ListMetadataInEveryRegion', []],
          ['CopierReadsInRegisteredRegions', regions],
        ]);
      }
    }
  });

  it("let only the vault's Lambda roles publish receipts, and deliver them to the agent's queue", () => {
    for (const { key, template, account } of each()) {
      const region = key.split('/')[1];
      const [topicId] = logicalIds(
        template,
        'AWS::SNS::Topic',
        (props) => props.TopicName === sourceNames(config.name, region).receiptsTopic,
      );
      const [policyId] = logicalIds(template, 'AWS::SNS::TopicPolicy', (props) =>
        asArray(props.Topics).some((topic) => referencedId(topic) === topicId),
      );
      const allows = statementsOf(template, policyId).filter((found) => found.statement.Effect === 'Allow');
      expect(
        allows.flatMap((found) => principalsOf(found.statement)),
        key,
      ).toEqual([`arn:<AWS::Partition>:iam::${BACKUP}:root`]);
      expect(
        allows.flatMap((found) => actionsOf(found.statement)),
        key,
      ).toEqual(['sns:Publish']);
      expect(
        allows.flatMap((found) => conditionValues(found.statement, 'ArnEquals', 'aws:PrincipalArn')).sort(),
        key,
      ).toEqual(
        vaultRoleArns(config.name, BACKUP)
          // The auditor sends no receipts.
          .filter((arn) => !arn.endsWith(`:role/${names.auditRole}`))
          .map((arn) => arn.replace('arn:aws:', 'arn:<AWS::Partition>:'))
          .sort(),
      );
      const [subscription] = resourcesOf(template, 'AWS::SNS::Subscription');
      expect(referencedId(subscription[1].Properties?.TopicArn), key).toBe(topicId);
      expect(subscription[1].Properties?.Protocol, key).toBe('sqs');
      expect(resourcesOf(template, 'AWS::Lambda::EventSourceMapping'), key).toHaveLength(1);
      // An intermediate deleted past the horizon with no receipt, or a receipt that could not be recorded, alarms.
      const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
      expect(alarms.map((alarm) => alarm.MetricName).sort(), key).toEqual([
        'ApproximateNumberOfMessagesVisible',
        'IntermediatesExpiredUncopied',
        'SnapshotsAgedOutUncopied',
      ]);
      for (const alarm of alarms)
        expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
      expect(account).toMatch(/^\d{12}$/);
    }
  });

  it('create the reader role only in the first Region stack of each account', () => {
    const readerName = sourceNames(config.name, 'any').readerRole;
    const readers = [...sources.entries()].map(
      ([key, template]) =>
        [
          key,
          resourcesOf(template, 'AWS::IAM::Role').filter(([, role]) => role.Properties?.RoleName === readerName).length,
        ] as const,
    );
    expect(Object.fromEntries(readers)).toEqual({
      [`${PAYMENTS}/eu-west-1`]: 1,
      [`${STOREFRONT}/eu-central-1`]: 1,
      [`${STOREFRONT}/eu-west-1`]: 0,
    });
  });

  it('let the agent delete and share only its bunker-share-* intermediates', () => {
    for (const { key, template, account } of each()) {
      const region = key.split('/')[1];
      const [agentRole] = logicalIds(
        template,
        'AWS::IAM::Role',
        (props) => props.RoleName === sourceNames(config.name, region).agentRole,
      );
      const statements = policyStatements(template).filter(
        (found) =>
          found.type === 'AWS::IAM::Policy' &&
          asArray(template.Resources[found.logicalId].Properties?.Roles).some(
            (role) => referencedId(role) === agentRole,
          ),
      );
      const destructive = statements.filter(({ statement }) =>
        actionsOf(statement).some((action) => /^rds:(Delete|Modify)/.test(action)),
      );
      expect(destructive.length, key).toBeGreaterThan(0);
      expect(
        destructive.map(({ statement }) => [actionsOf(statement).sort(), asArray(statement.Resource).map(flatten)]),
        key,
      ).toEqual([
        [
          ['rds:DeleteDBSnapshot', 'rds:ModifyDBSnapshotAttribute'],
          [`arn:<AWS::Partition>:rds:${region}:${account}:snapshot:bunker-share-*`],
        ],
        [
          ['rds:DeleteDBClusterSnapshot', 'rds:ModifyDBClusterSnapshotAttribute'],
          [`arn:<AWS::Partition>:rds:${region}:${account}:cluster-snapshot:bunker-share-*`],
        ],
      ]);
      // EC2 ids are EC2's: the agent's destructive EC2 rights hold only on what carries its intermediate tag.
      const ec2Destructive = statements.filter(({ statement }) =>
        actionsOf(statement).some((action) => /^ec2:(Delete|Deregister|Modify)/.test(action)),
      );
      expect(ec2Destructive.length, key).toBe(1);
      expect(actionsOf(ec2Destructive[0].statement).sort(), key).toEqual([
        'ec2:DeleteSnapshot',
        'ec2:DeregisterImage',
        'ec2:ModifyImageAttribute',
        'ec2:ModifySnapshotAttribute',
      ]);
      expect(
        conditionValues(ec2Destructive[0].statement, 'StringEquals', 'aws:ResourceTag/bunker:intermediate'),
        key,
      ).toEqual(['true']);
      // Tags decide what it may delete: it can never give production the bunker:intermediate tag.
      const tagging = statements.filter(({ statement }) => actionsOf(statement).includes('ec2:CreateTags'));
      expect(tagging.length, key).toBe(3);
      for (const { statement } of tagging) {
        const createAction = conditionValues(statement, 'StringEquals', 'ec2:CreateAction');
        const keys = conditionValues(statement, 'ForAllValues:StringEquals', 'aws:TagKeys');
        expect(createAction.length > 0 || (keys.length > 0 && !keys.includes('bunker:intermediate')), key).toBe(true);
      }
      for (const { statement } of statements) {
        // No whole service (`rds:*`) and no `*` action.
        for (const action of actionsOf(statement)) expect(action, key).not.toMatch(/^\*$|^[a-z0-9-]+:\*$/);
      }
      // It publishes to the vault's intake topic and to nothing else.
      const publish = statements.filter(({ statement }) => actionsOf(statement).includes('sns:Publish'));
      expect(
        publish.flatMap(({ statement }) => asArray(statement.Resource).map(flatten)),
        key,
      ).toEqual([intakeTopicArn(config.name, BACKUP, config.backup.region, account, '<AWS::Partition>')]);
    }
  });

  it('run the agent’s hourly sweep on its schedule, and keep the aged-out alarm up between its 6-hourly counts', () => {
    for (const { key, template } of each()) {
      const agents = resourcesOf(template, 'AWS::Lambda::Function')
        .map(([, fn]) => (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables)
        .filter((variables) => variables.POWERTOOLS_SERVICE_NAME === 'bunker-source-agent');
      const agedOut = resourcesOf(template, 'AWS::CloudWatch::Alarm')
        .map(([, alarm]) => alarm.Properties ?? {})
        .filter((alarm) => alarm.MetricName === 'SnapshotsAgedOutUncopied');

      expect(
        agents.map((variables) => variables.BUNKER_AGENT_SWEEP),
        key,
      ).toEqual(['scheduled']);
      expect(
        agedOut.map((alarm) => [alarm.Period, alarm.Statistic, alarm.EvaluationPeriods]),
        key,
      ).toEqual([[21_600, 'Maximum', 1]]);
    }
  });

  it("tell the agent each enabled kind's RPO, which it ages waiting originals by", () => {
    for (const { key, template } of each()) {
      const agents = resourcesOf(template, 'AWS::Lambda::Function')
        .map(([, fn]) => (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables)
        .filter((variables) => variables.POWERTOOLS_SERVICE_NAME === 'bunker-source-agent');
      expect(
        agents.map((variables) => variables.BUNKER_RPO_HOURS),
        key,
      ).toEqual(['{"rds-snapshot":24,"aurora-cluster-snapshot":24,"ebs-snapshot":24,"ami":24}']);
    }
  });

  it('wake the agent on snapshot events and every hour', () => {
    for (const { key, template } of each()) {
      const rules = resourcesOf(template, 'AWS::Events::Rule').map(([, rule]) => rule.Properties ?? {});
      expect(rules.map((rule) => rule.ScheduleExpression).filter(Boolean), key).toEqual(['rate(1 hour)']);
      expect(rules.map((rule) => rule.EventPattern).filter(Boolean), key).toEqual([
        {
          source: ['aws.rds'],
          'detail-type': ['RDS DB Snapshot Event'],
          detail: { EventID: [...SOURCE_EVENT_IDS] },
        },
        {
          source: ['aws.ec2'],
          'detail-type': ['EBS Snapshot Notification'],
          detail: { event: ['createSnapshot', 'copySnapshot'], result: ['succeeded'] },
        },
        { source: ['aws.ec2'], 'detail-type': ['EC2 AMI State Change'], detail: { State: ['available'] } },
        { source: ['aws.rds'], 'detail-type': ['RDS DB Cluster Snapshot Event'] },
      ]);
    }
  });
});
