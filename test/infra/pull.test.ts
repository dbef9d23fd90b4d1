/**
 * Pulled backups in the synthesized templates: who the puller role trusts
 * and what it may do, what the vault bucket refuses and to whom, the
 * schedules, the pull function's rights, and that none of it exists when no
 * pulled kind is enabled. The app is built with cdk-nag attached, as
 * `make synth` builds it, with every pulled kind enabled.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BunkerConfigInput } from '../../lib/config/schema';
import {
  actionsOf,
  asArray,
  conditionValues,
  type FoundStatement,
  flatten,
  logicalIds,
  policyStatements,
  principalsOf,
  referencedId,
  type Statement,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, PAYMENTS, STOREFRONT, type Synthesized, synthesize } from './support/synth';

const document: BunkerConfigInput = {
  ...baseDocument,
  artifacts: {
    rds: { enabled: true },
    ssm: { enabled: true, paths: ['/app/', '/shared/'], pullEveryMinutes: 30, retentionDays: 35 },
    secrets: { enabled: true, namePrefixes: ['prod/'], rpoHours: 4, retentionDays: 90 },
    dynamodb: { enabled: true, scope: { tag: { key: 'backup', value: 'daily' } }, retentionDays: 400 },
  },
};

let all: Synthesized;
let none: Synthesized;

beforeAll(() => {
  all = synthesize(document);
  none = synthesize({ ...document, artifacts: { rds: { enabled: true } } });
});

const resourcesOf = (template: TemplateJson, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

function statementsOf(template: TemplateJson, logicalId: string, property?: string): FoundStatement[] {
  return policyStatements(template).filter(
    (found) => found.logicalId === logicalId && (property === undefined || found.property === property),
  );
}

function roleNamed(template: TemplateJson, name: string): string | undefined {
  return logicalIds(template, 'AWS::IAM::Role', (props) => props.RoleName === name)[0];
}

/** The statements of every identity policy attached to the role (inline `Policies` and `AWS::IAM::Policy`). */
function identityStatements(template: TemplateJson, roleId: string): Statement[] {
  const attached = logicalIds(template, 'AWS::IAM::Policy', (props) =>
    asArray(props.Roles).some((role) => referencedId(role) === roleId),
  );
  return [
    ...statementsOf(template, roleId, 'Policies'),
    ...attached.flatMap((policyId) => statementsOf(template, policyId)),
  ].map((found) => found.statement);
}

function bucketNamed(template: TemplateJson, name: string): string {
  const [id] = logicalIds(template, 'AWS::S3::Bucket', (props) => props.BucketName === name);
  expect(id, name).toBeDefined();
  return id;
}

function bucketPolicyOf(template: TemplateJson, bucketId: string): Statement[] {
  const [policyId] = logicalIds(template, 'AWS::S3::BucketPolicy', (props) => referencedId(props.Bucket) === bucketId);
  return statementsOf(template, policyId).map((found) => found.statement);
}

const resources = (statement: Statement) => asArray(statement.Resource).map(flatten);

describe('the app with every pulled kind enabled', () => {
  it('synthesizes with no unacknowledged cdk-nag finding, each acknowledgement with a reason and a finding', () => {
    expect(all.synthError).toBeUndefined();
    const report = JSON.parse(readFileSync(join(all.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);

    const acknowledgements = all.built.app.node.findAll().flatMap((construct) =>
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
    const pack = new AwsSolutionsChecks();
    Object.assign(pack, { isAcknowledged: () => false });
    const raw = pack.validateScope(all.built.app).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({
        id: violation.ruleName,
        path: resource.constructPath ?? '',
      })),
    );
    const pulled = acknowledgements.filter((ack) => ack.path.includes('/Pulled/'));
    expect(pulled.length).toBeGreaterThan(0);
    for (const ack of acknowledgements) {
      expect(ack.reason.trim().length, `${ack.path} ${ack.id}`).toBeGreaterThan(20);
      expect(ack.id, ack.path).toMatch(/^AwsSolutions-IAM5\[.+\]$/);
      const covered = raw.some((finding) => finding.id === ack.id && finding.path.startsWith(`${ack.path}/`));
      expect(covered, `stale acknowledgement ${ack.id} on ${ack.path}`).toBe(true);
    }
  });
});

describe('the puller role', () => {
  it('is made once per account, by the stack of its first listed Region', () => {
    const withRole = [...all.sources.entries()]
      .filter(([, template]) => roleNamed(template, 'bunker-puller') !== undefined)
      .map(([key]) => key);
    expect(withRole).toEqual([`${PAYMENTS}/eu-west-1`, `${STOREFRONT}/eu-central-1`]);
  });

  it('trusts exactly the pull function role of the backup account, and nothing else', () => {
    for (const account of [PAYMENTS, STOREFRONT]) {
      const template = [...all.sources.entries()].find(
        ([key, t]) => key.startsWith(account) && roleNamed(t, 'bunker-puller'),
      )?.[1] as TemplateJson;
      const roleId = roleNamed(template, 'bunker-puller') as string;
      const trust = statementsOf(template, roleId, 'AssumeRolePolicyDocument').map((found) => found.statement);
      expect(trust).toHaveLength(1);
      expect(trust[0].Effect).toBe('Allow');
      expect(actionsOf(trust[0])).toEqual(['sts:AssumeRole']);
      expect(principalsOf(trust[0])).toEqual([`arn:<AWS::Partition>:iam::${BACKUP}:root`]);
      expect(Object.keys(trust[0].Condition ?? {})).toEqual(['ArnEquals']);
      expect(conditionValues(trust[0], 'ArnEquals', 'aws:PrincipalArn')).toEqual([
        `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-pull`,
      ]);
      expect(template.Resources[roleId].Properties?.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('grants only reads, and writes only into the export staging buckets of its own account', () => {
    const template = all.sources.get(`${STOREFRONT}/eu-central-1`) as TemplateJson;
    const statements = identityStatements(template, roleNamed(template, 'bunker-puller') as string);
    expect(statements.length).toBeGreaterThan(0);
    const readVerbs = /^(ssm|secretsmanager|dynamodb|tag|s3):(Get|Describe|List|Scan)[A-Za-z]*$/;
    const staging = [
      `arn:<AWS::Partition>:s3:::bunker-exports-${STOREFRONT}-eu-central-1/*`,
      `arn:<AWS::Partition>:s3:::bunker-exports-${STOREFRONT}-eu-west-1/*`,
    ];
    const writes: string[] = [];
    for (const statement of statements) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.NotAction).toBeUndefined();
      for (const action of actionsOf(statement)) {
        expect(action, 'no wildcard actions').not.toContain('*');
        if (readVerbs.test(action)) continue;
        if (action === 'kms:Decrypt') {
          expect(conditionValues(statement, 'StringEquals', 'kms:ViaService').sort()).toEqual([
            'dynamodb.eu-central-1.amazonaws.com',
            'dynamodb.eu-west-1.amazonaws.com',
            'secretsmanager.eu-central-1.amazonaws.com',
            'secretsmanager.eu-west-1.amazonaws.com',
            'ssm.eu-central-1.amazonaws.com',
            'ssm.eu-west-1.amazonaws.com',
          ]);
          continue;
        }
        // Starting an export is DynamoDB writing into the staging bucket on the puller's behalf.
        if (action === 'dynamodb:ExportTableToPointInTime') continue;
        expect(resources(statement), action).toEqual(staging);
        writes.push(action);
      }
    }
    expect(writes.sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject', 's3:PutObjectAcl']);
  });

  it('reads only in the registered Regions, only under the configured paths and prefixes, and tables by tag', () => {
    const template = all.sources.get(`${STOREFRONT}/eu-central-1`) as TemplateJson;
    const statements = identityStatements(template, roleNamed(template, 'bunker-puller') as string);
    const bySid = new Map(statements.map((statement) => [statement.Sid, statement]));
    for (const statement of statements) {
      if (statement.Sid?.includes('Staging') || statement.Sid === 'DecryptThroughThePulledServices') continue;
      expect(conditionValues(statement, 'StringEquals', 'aws:RequestedRegion'), statement.Sid).toEqual([
        'eu-central-1',
        'eu-west-1',
      ]);
    }
    expect(resources(bySid.get('ReadParametersInScope') as Statement)).toEqual([
      `arn:<AWS::Partition>:ssm:eu-central-1:${STOREFRONT}:parameter/app/*`,
      `arn:<AWS::Partition>:ssm:eu-central-1:${STOREFRONT}:parameter/shared/*`,
      `arn:<AWS::Partition>:ssm:eu-west-1:${STOREFRONT}:parameter/app/*`,
      `arn:<AWS::Partition>:ssm:eu-west-1:${STOREFRONT}:parameter/shared/*`,
    ]);
    // Nothing may read by path: IAM checks GetParametersByPath against the path, which has no tags,
    // so it would read every SecureString under a path whatever the tag scope says.
    expect(bySid.has('ReadParametersByPath')).toBe(false);
    expect(statements.flatMap(actionsOf)).not.toContain('ssm:GetParametersByPath');
    expect(resources(bySid.get('ReadSecretsInScope') as Statement)).toEqual([
      `arn:<AWS::Partition>:secretsmanager:eu-central-1:${STOREFRONT}:secret:prod/*`,
      `arn:<AWS::Partition>:secretsmanager:eu-west-1:${STOREFRONT}:secret:prod/*`,
    ]);
    const tables = bySid.get('ReadTablesInScope') as Statement;
    expect(conditionValues(tables, 'StringEquals', 'aws:ResourceTag/backup')).toEqual(['daily']);
    expect(actionsOf(tables)).toContain('dynamodb:Scan');
    // Parameters and secrets use the default tag scope: the tag narrows the reads of values too.
    expect(
      conditionValues(bySid.get('ReadSecretsInScope') as Statement, 'StringEquals', 'aws:ResourceTag/bunker:backup'),
    ).toEqual(['true']);
    expect(
      conditionValues(bySid.get('ReadParametersInScope') as Statement, 'StringEquals', 'aws:ResourceTag/bunker:backup'),
    ).toEqual(['true']);
  });

  it('names the resources of a list-of-names scope instead of a wildcard', () => {
    const named = synthesize({
      ...document,
      sources: [{ account: PAYMENTS, regions: ['eu-west-1'] }],
      artifacts: {
        ssm: { enabled: true, scope: { ids: ['/app/db-url', 'plain'] } },
        secrets: { enabled: true, scope: { ids: ['prod/db'] } },
        dynamodb: { enabled: true, scope: { ids: ['orders'] } },
      },
    });
    expect(named.synthError).toBeUndefined();
    const template = named.sources.get(`${PAYMENTS}/eu-west-1`) as TemplateJson;
    const statements = identityStatements(template, roleNamed(template, 'bunker-puller') as string);
    const bySid = new Map(statements.map((statement) => [statement.Sid, statement]));
    expect(resources(bySid.get('ReadParametersInScope') as Statement)).toEqual([
      `arn:<AWS::Partition>:ssm:eu-west-1:${PAYMENTS}:parameter/app/db-url`,
      `arn:<AWS::Partition>:ssm:eu-west-1:${PAYMENTS}:parameter/plain`,
    ]);
    // By path would read every parameter under it, named or not.
    expect(bySid.has('ReadParametersByPath')).toBe(false);
    expect(resources(bySid.get('ReadSecretsInScope') as Statement)).toEqual([
      `arn:<AWS::Partition>:secretsmanager:eu-west-1:${PAYMENTS}:secret:prod/db-??????`,
    ]);
    expect(resources(bySid.get('ReadTablesInScope') as Statement)).toEqual([
      `arn:<AWS::Partition>:dynamodb:eu-west-1:${PAYMENTS}:table/orders`,
    ]);
  });
});

describe('the export staging bucket', () => {
  it('is in every source Region, SSE-S3, private, expiring exports after 7 days, closed to other accounts', () => {
    for (const [key, template] of all.sources) {
      const [account, region] = key.split('/');
      const bucketId = bucketNamed(template, `bunker-exports-${account}-${region}`);
      const props = template.Resources[bucketId].Properties ?? {};
      expect(props.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(props.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(props.LifecycleConfiguration).toEqual({
        Rules: [
          {
            Id: 'expire-exports',
            ExpirationInDays: 7,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          },
        ],
      });
      const policy = bucketPolicyOf(template, bucketId);
      const otherAccounts = policy.find((statement) => statement.Sid === 'NoOtherAccount') as Statement;
      expect(otherAccounts.Effect).toBe('Deny');
      expect(principalsOf(otherAccounts)).toEqual(['*']);
      expect(actionsOf(otherAccounts)).toEqual(['s3:*']);
      expect(conditionValues(otherAccounts, 'StringNotEquals', 'aws:PrincipalAccount')).toEqual([account]);
      const onlyPuller = policy.find(
        (statement) => statement.Sid === 'OnlyThePullerReadsAndWritesExports',
      ) as Statement;
      expect(onlyPuller.Effect).toBe('Deny');
      expect(conditionValues(onlyPuller, 'ArnNotEquals', 'aws:PrincipalArn')).toEqual([
        `arn:<AWS::Partition>:iam::${account}:role/bunker-puller`,
      ]);
      expect(policy.filter((statement) => statement.Effect === 'Allow')).toEqual([]);
    }
  });
});

describe('the vault bucket', () => {
  const bucketName = `bunker-vault-${BACKUP}-eu-west-1`;

  it('is versioned with Object Lock in compliance mode for the longest retentionDays of the pulled kinds', () => {
    const props = all.vault.Resources[bucketNamed(all.vault, bucketName)].Properties ?? {};
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(props.ObjectLockEnabled).toBe(true);
    expect(props.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 400 } },
    });
    expect(all.vault.Resources[bucketNamed(all.vault, bucketName)].DeletionPolicy).toBe('Retain');
  });

  it('encrypts with the backup-data key, a bucket key on, blocks public access and logs access', () => {
    const [aliasId] = logicalIds(
      all.vault,
      'AWS::KMS::Alias',
      (props) => props.AliasName === 'alias/bunker-backup-data',
    );
    const keyId = referencedId(all.vault.Resources[aliasId].Properties?.TargetKeyId);
    const props = all.vault.Resources[bucketNamed(all.vault, bucketName)].Properties ?? {};
    const [rule] = (props.BucketEncryption as { ServerSideEncryptionConfiguration: Record<string, unknown>[] })
      .ServerSideEncryptionConfiguration;
    expect(rule.BucketKeyEnabled).toBe(true);
    const byDefault = rule.ServerSideEncryptionByDefault as Record<string, unknown>;
    expect(byDefault.SSEAlgorithm).toBe('aws:kms');
    expect(referencedId(byDefault.KMSMasterKeyID)).toBe(keyId);
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const logging = props.LoggingConfiguration as Record<string, unknown>;
    expect(referencedId(logging.DestinationBucketName)).toBe(
      bucketNamed(all.vault, `bunker-access-logs-${BACKUP}-eu-west-1`),
    );
  });

  it('denies deleting, retention and legal-hold changes to every principal but the retention role', () => {
    const policy = bucketPolicyOf(all.vault, bucketNamed(all.vault, bucketName));
    const denies = policy.filter(
      (statement) => statement.Effect === 'Deny' && actionsOf(statement).includes('s3:DeleteObjectVersion'),
    );
    expect(denies).toHaveLength(1);
    const [deny] = denies;
    expect(principalsOf(deny)).toEqual(['*']);
    expect(actionsOf(deny)).toEqual([
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
    ]);
    expect(Object.keys(deny.Condition ?? {})).toEqual(['ArnNotEquals']);
    expect(conditionValues(deny, 'ArnNotEquals', 'aws:PrincipalArn')).toEqual([
      `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-retention`,
    ]);
    expect(roleNamed(all.vault, 'bunker-retention')).toBeDefined();
    const lock = policy.find((statement) => statement.Sid === 'NobodyBypassesOrChangesTheLock') as Statement;
    expect(lock.Effect).toBe('Deny');
    expect(actionsOf(lock)).toEqual(['s3:BypassGovernanceRetention', 's3:PutBucketObjectLockConfiguration']);
    // Not even the retention role: only CloudFormation's deployment role changes the default retention.
    expect(conditionValues(lock, 'ArnNotLike', 'aws:PrincipalArn')).toEqual([
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-*-cfn-exec-role-<AWS::AccountId>-<AWS::Region>',
    ]);
    // No bucket policy allows anything: access is by identity policies of the backup account only.
    expect(policy.filter((statement) => statement.Effect === 'Allow')).toEqual([]);
  });

  it('denies every S3 action to principals of any other account', () => {
    const policy = bucketPolicyOf(all.vault, bucketNamed(all.vault, bucketName));
    const [other] = policy.filter(
      (statement) => conditionValues(statement, 'StringNotEquals', 'aws:PrincipalAccount').length > 0,
    );
    expect(other.Effect).toBe('Deny');
    expect(principalsOf(other)).toEqual(['*']);
    expect(actionsOf(other)).toEqual(['s3:*']);
    expect(conditionValues(other, 'StringNotEquals', 'aws:PrincipalAccount')).toEqual([BACKUP]);
    expect(resources(other)).toEqual([
      `<${bucketNamed(all.vault, bucketName)}.Arn>`,
      `<${bucketNamed(all.vault, bucketName)}.Arn>/*`,
    ]);
  });
});

describe('the pull pipeline in the vault', () => {
  it('adds the by-pull-scope index to the inventory, projecting whole records', () => {
    const [[, table]] = resourcesOf(all.vault, 'AWS::DynamoDB::Table');
    const indexes = table.Properties?.GlobalSecondaryIndexes as Record<string, unknown>[];
    expect(indexes.find((index) => index.IndexName === 'by-pull-scope')).toEqual({
      IndexName: 'by-pull-scope',
      KeySchema: [
        { AttributeName: 'pullScope', KeyType: 'HASH' },
        { AttributeName: 'artifactId', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
  });

  it('schedules one rule per source account, Region and enabled kind, with its rate and job', () => {
    const rules = resourcesOf(all.vault, 'AWS::Events::Rule')
      .map(([, rule]) => rule.Properties ?? {})
      .filter((props) => String(props.Name).startsWith('bunker-pull-'));
    const [queueId] = logicalIds(all.vault, 'AWS::SQS::Queue', (props) => props.QueueName === 'bunker-pull');
    const seen = rules.map((props) => {
      const targets = props.Targets as Record<string, unknown>[];
      expect(targets).toHaveLength(1);
      expect(referencedId(targets[0].Arn)).toBe(queueId);
      return `${String(props.ScheduleExpression)} ${String(targets[0].Input)}`;
    });
    const job = (kind: string, account: string, region: string) =>
      `{"kind":"${kind}","account":"${account}","region":"${region}"}`;
    expect(seen.sort()).toEqual(
      [
        `rate(30 minutes) ${job('ssm', PAYMENTS, 'eu-west-1')}`,
        `rate(30 minutes) ${job('ssm', STOREFRONT, 'eu-central-1')}`,
        `rate(30 minutes) ${job('ssm', STOREFRONT, 'eu-west-1')}`,
        // rpoHours 4: every 2 hours.
        `rate(2 hours) ${job('secrets', PAYMENTS, 'eu-west-1')}`,
        `rate(2 hours) ${job('secrets', STOREFRONT, 'eu-central-1')}`,
        `rate(2 hours) ${job('secrets', STOREFRONT, 'eu-west-1')}`,
        // rpoHours 24 (the default): every 12 hours.
        `rate(12 hours) ${job('dynamodb', PAYMENTS, 'eu-west-1')}`,
        `rate(12 hours) ${job('dynamodb', STOREFRONT, 'eu-central-1')}`,
        `rate(12 hours) ${job('dynamodb', STOREFRONT, 'eu-west-1')}`,
      ].sort(),
    );
  });

  it('lets only the pull schedules and the pull function send to the pull queue', () => {
    const [queueId] = logicalIds(all.vault, 'AWS::SQS::Queue', (props) => props.QueueName === 'bunker-pull');
    const [policyId] = logicalIds(all.vault, 'AWS::SQS::QueuePolicy', (props) =>
      asArray(props.Queues).some((queue) => referencedId(queue) === queueId),
    );
    const statements = statementsOf(all.vault, policyId).map((found) => found.statement);
    const rules = `arn:<AWS::Partition>:events:eu-west-1:${BACKUP}:rule/bunker-pull-*`;
    const allows = statements.filter((statement) => statement.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(principalsOf(allows[0])).toEqual(['events.amazonaws.com']);
    expect(conditionValues(allows[0], 'ArnLike', 'aws:SourceArn')).toEqual([rules]);
    expect(conditionValues(allows[0], 'StringEquals', 'aws:SourceAccount')).toEqual([BACKUP]);
    const deny = statements.find((statement) => statement.Sid === 'OnlyPullSchedulesAndThePullFunctionSend');
    expect(deny?.Effect).toBe('Deny');
    expect(principalsOf(deny as Statement)).toEqual(['*']);
    expect(conditionValues(deny as Statement, 'ArnNotEquals', 'aws:PrincipalArn')).toEqual([
      `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-pull`,
    ]);
    expect(conditionValues(deny as Statement, 'ArnNotLike', 'aws:SourceArn')).toEqual([rules]);
    // Every schedule's name falls under the pattern the queue admits.
    for (const [, rule] of resourcesOf(all.vault, 'AWS::Events::Rule')) {
      const name = String(rule.Properties?.Name);
      if (name.startsWith('bunker-pull-'))
        expect(name).toMatch(/^bunker-pull-(ssm|secrets|dynamodb)-\d{12}-[a-z0-9-]+$/);
    }
  });

  it('lets the pull role assume exactly the puller roles of the registered sources', () => {
    const roleId = roleNamed(all.vault, 'bunker-pull') as string;
    const assumes = identityStatements(all.vault, roleId).filter((statement) =>
      actionsOf(statement).includes('sts:AssumeRole'),
    );
    expect(assumes).toHaveLength(1);
    expect(actionsOf(assumes[0])).toEqual(['sts:AssumeRole']);
    expect(resources(assumes[0])).toEqual([
      `arn:<AWS::Partition>:iam::${PAYMENTS}:role/bunker-puller`,
      `arn:<AWS::Partition>:iam::${STOREFRONT}:role/bunker-puller`,
    ]);
    // The other vault roles assume no puller role.
    for (const role of ['bunker-intake', 'bunker-completion', 'bunker-sweep']) {
      const statements = identityStatements(all.vault, roleNamed(all.vault, role) as string);
      expect(
        statements.flatMap(resources).filter((arn) => arn.endsWith(':role/bunker-puller')),
        role,
      ).toEqual([]);
    }
  });

  it('gives the pull role no delete anywhere and writes only to the vault bucket, inventory and pull queue', () => {
    const roleId = roleNamed(all.vault, 'bunker-pull') as string;
    const statements = identityStatements(all.vault, roleId);
    const actions = statements.flatMap(actionsOf);
    // Receiving from SQS ends with deleting the handled message: the event source's own grant.
    expect(actions.filter((action) => /delete/i.test(action))).toEqual(['sqs:DeleteMessage']);
    expect(actions.filter((action) => action.startsWith('s3:')).sort()).toEqual([
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
    const bucketId = bucketNamed(all.vault, `bunker-vault-${BACKUP}-eu-west-1`);
    for (const statement of statements.filter((s) => actionsOf(s).some((action) => action.startsWith('s3:')))) {
      for (const arn of resources(statement)) expect([`<${bucketId}.Arn>`, `<${bucketId}.Arn>/*`]).toContain(arn);
    }
    const dynamo = statements.find((statement) => actionsOf(statement).includes('dynamodb:PutItem')) as Statement;
    expect(resources(dynamo)).toEqual([
      `arn:<AWS::Partition>:dynamodb:eu-west-1:${BACKUP}:table/bunker-inventory`,
      `arn:<AWS::Partition>:dynamodb:eu-west-1:${BACKUP}:table/bunker-inventory/index/by-pull-scope`,
    ]);
  });

  it('runs the pull function one job at a time per invocation, bounded, with its settings', () => {
    const [[, mapping]] = resourcesOf(all.vault, 'AWS::Lambda::EventSourceMapping').filter(
      ([, resource]) =>
        referencedId(resource.Properties?.EventSourceArn) ===
        logicalIds(all.vault, 'AWS::SQS::Queue', (props) => props.QueueName === 'bunker-pull')[0],
    );
    expect(mapping.Properties).toMatchObject({
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    const [[, fn]] = resourcesOf(all.vault, 'AWS::Lambda::Function').filter(
      ([, resource]) => referencedId(resource.Properties?.Role) === roleNamed(all.vault, 'bunker-pull'),
    );
    expect(fn.Properties?.Timeout).toBe(900);
    const env = (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.BUNKER_VAULT_BUCKET).toBe(`bunker-vault-${BACKUP}-eu-west-1`);
    expect(env.BUNKER_PULL_SCOPE_INDEX).toBe('by-pull-scope');
    expect(JSON.parse(String(env.BUNKER_PULL))).toEqual({
      ssm: { scope: { tag: { key: 'bunker:backup', value: 'true' } }, paths: ['/app/', '/shared/'] },
      secrets: { scope: { tag: { key: 'bunker:backup', value: 'true' } }, namePrefixes: ['prod/'] },
      dynamodb: {
        scope: { tag: { key: 'backup', value: 'daily' } },
        scanReadShare: 0.25,
        scanReadUnitsPerSecond: 100,
        scanSegments: 4,
        fullExportEveryHours: 168,
      },
    });
  });

  it('alarms on dead-lettered pull jobs', () => {
    const [dlq] = logicalIds(all.vault, 'AWS::SQS::Queue', (props) => props.QueueName === 'bunker-pull-dlq');
    const alarms = resourcesOf(all.vault, 'AWS::CloudWatch::Alarm').filter(([, alarm]) =>
      asArray(alarm.Properties?.Dimensions as unknown[]).some(
        (dimension) => referencedId((dimension as { Value: unknown }).Value) === dlq,
      ),
    );
    expect(alarms).toHaveLength(1);
    expect(alarms[0][1].Properties?.MetricName).toBe('ApproximateNumberOfMessagesVisible');
  });
});

describe('the app with no pulled kind enabled', () => {
  it('has no bucket, pull role, puller role, pull queue, schedule or pull index; the retention role is the pruner’s only', () => {
    expect(none.synthError).toBeUndefined();
    for (const template of [none.vault, ...none.sources.values()]) {
      // The tamper trail's log buckets (test/infra/immutability.test.ts) are the vault's only ones.
      expect(
        resourcesOf(template, 'AWS::S3::Bucket').filter(
          ([, bucket]) => !String(bucket.Properties?.BucketName).startsWith('bunker-trail-'),
        ),
      ).toEqual([]);
      expect(roleNamed(template, 'bunker-puller')).toBeUndefined();
      expect(roleNamed(template, 'bunker-pull')).toBeUndefined();
      // The pruner runs as the retention role for the snapshot kinds too (test/infra/retention.test.ts).
      if (template !== none.vault) expect(roleNamed(template, 'bunker-retention')).toBeUndefined();
      expect(logicalIds(template, 'AWS::SQS::Queue', (props) => props.QueueName === 'bunker-pull')).toEqual([]);
      expect(
        logicalIds(template, 'AWS::Events::Rule', (props) => String(props.Name).startsWith('bunker-pull-')),
      ).toEqual([]);
    }
    const [[, table]] = resourcesOf(none.vault, 'AWS::DynamoDB::Table');
    const indexes = table.Properties?.GlobalSecondaryIndexes as Record<string, unknown>[];
    // The copies' indexes only: no by-pull-scope.
    expect(indexes.map((index) => index.IndexName)).toEqual(['by-status', 'by-queue']);
  });
});
