/**
 * The local template applier without the emulator: how it resolves intrinsic
 * functions, orders resources, and refuses what it would not create
 * faithfully. Literal templates, literal expectations.
 */
import { describe, expect, it } from 'vitest';
import {
  type CfnTemplate,
  CrossStackReferenceError,
  emulatedBucketPolicy,
  type IntrinsicScope,
  planStack,
  pseudoParameters,
  resolveIntrinsics,
  sameDocument,
  UnsupportedTemplateError,
} from '../../cli/local/template-applier';

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';

/** Physical ids as the applier would have recorded them for the resources of the literal template. */
const REFS: Record<string, string> = {
  Key: '1234abcd-12ab-34cd-56ef-1234567890ab',
  Topic: `arn:aws:sns:${REGION}:${ACCOUNT}:bunker-intake`,
  Queue: `http://127.0.0.1:5000/${ACCOUNT}/bunker-intake`,
  Role: 'bunker-reader',
};
const ATTRIBUTES: Record<string, Record<string, string>> = {
  Key: { Arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab` },
  Queue: { Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:bunker-intake` },
  Role: { Arn: `arn:aws:iam::${ACCOUNT}:role/bunker-reader` },
};

const scope: IntrinsicScope = {
  pseudo: pseudoParameters('bunker-vault', ACCOUNT, REGION),
  ref(logicalId) {
    const value = REFS[logicalId];
    if (value === undefined) throw new Error(`no Ref for ${logicalId}`);
    return value;
  },
  getAtt(logicalId, attribute) {
    const value = ATTRIBUTES[logicalId]?.[attribute];
    if (value === undefined) throw new Error(`no ${attribute} for ${logicalId}`);
    return value;
  },
};

const partitionRoot = (account: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${account}:root`]],
});

describe('resolveIntrinsics', () => {
  it('resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and Fn::Split in a policy document', () => {
    const document = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: [partitionRoot('222222222222'), partitionRoot('333333333333')] },
          Action: 'sns:Publish',
          Resource: { Ref: 'Topic' },
          Condition: {
            ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['Queue', 'Arn'] } },
            StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'sns.${AWS::Region}.${AWS::URLSuffix}' } },
          },
        },
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: [
            { 'Fn::GetAtt': 'Key.Arn' },
            { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${Key}' },
            { 'Fn::Sub': ['${Role.Arn}/${Name}', { Name: { Ref: 'AWS::StackName' } }] },
          ],
        },
      ],
    };

    expect(resolveIntrinsics(document, scope)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::222222222222:root', 'arn:aws:iam::333333333333:root'] },
          Action: 'sns:Publish',
          Resource: 'arn:aws:sns:eu-west-1:111111111111:bunker-intake',
          Condition: {
            ArnEquals: { 'aws:SourceArn': 'arn:aws:sqs:eu-west-1:111111111111:bunker-intake' },
            StringEquals: { 'kms:ViaService': 'sns.eu-west-1.amazonaws.com' },
          },
        },
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: [
            'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
            'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
            'arn:aws:iam::111111111111:role/bunker-reader/bunker-vault',
          ],
        },
      ],
    });
  });

  it('selects from a split list, keeps ${!literal} text, and drops AWS::NoValue properties and list items', () => {
    const value = {
      Region: { 'Fn::Select': [3, { 'Fn::Split': [':', { 'Fn::GetAtt': ['Queue', 'Arn'] }] }] },
      QueueName: { 'Fn::Select': ['5', { 'Fn::Split': [':', { 'Fn::GetAtt': ['Queue', 'Arn'] }] }] },
      Template: { 'Fn::Sub': '${!Literal} in ${AWS::StackName}' },
      Dropped: { Ref: 'AWS::NoValue' },
      List: ['a', { Ref: 'AWS::NoValue' }, 'b'],
    };

    expect(resolveIntrinsics(value, scope)).toEqual({
      Region: 'eu-west-1',
      QueueName: 'bunker-intake',
      Template: '${Literal} in bunker-vault',
      List: ['a', 'b'],
    });
  });

  it('gives the pseudo parameters of the stack, with the partition of its Region', () => {
    expect(pseudoParameters('bunker-source-222222222222-eu-central-1', '222222222222', 'eu-central-1')).toEqual({
      'AWS::Partition': 'aws',
      'AWS::AccountId': '222222222222',
      'AWS::Region': 'eu-central-1',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'bunker-source-222222222222-eu-central-1',
      'AWS::StackId':
        'arn:aws:cloudformation:eu-central-1:222222222222:stack/bunker-source-222222222222-eu-central-1/local',
    });
    expect(pseudoParameters('s', '222222222222', 'cn-north-1')['AWS::Partition']).toBe('aws-cn');
  });

  it('refuses Fn::ImportValue as a cross-stack reference, and conditions and unknown functions as unsupported', () => {
    expect(() => resolveIntrinsics({ Topic: { 'Fn::ImportValue': 'vault-topic' } }, scope, 'Sub')).toThrow(
      CrossStackReferenceError,
    );
    expect(() => resolveIntrinsics({ 'Fn::If': ['IsProd', 'a', 'b'] }, scope, 'X')).toThrow(
      'X: Fn::If needs template Conditions, which the local applier does not evaluate',
    );
    expect(() => resolveIntrinsics({ 'Fn::Base64': 'text' }, scope, 'X')).toThrow(
      'X: the local applier does not support the intrinsic function Fn::Base64',
    );
    expect(() => resolveIntrinsics({ Ref: 'AWS::NotificationARNs' }, scope, 'X')).toThrow(
      'X (Ref): unsupported pseudo parameter AWS::NotificationARNs',
    );
  });
});

describe('planStack', () => {
  const template: CfnTemplate = {
    Resources: {
      Subscription: {
        Type: 'AWS::SNS::Subscription',
        Properties: {
          TopicArn: { Ref: 'Topic' },
          Protocol: 'sqs',
          Endpoint: { 'Fn::GetAtt': ['Queue', 'Arn'] },
        },
        DependsOn: 'QueuePolicy',
      },
      QueuePolicy: {
        Type: 'AWS::SQS::QueuePolicy',
        Properties: { Queues: [{ Ref: 'Queue' }], PolicyDocument: { Statement: [] } },
      },
      Queue: {
        Type: 'AWS::SQS::Queue',
        Properties: { QueueName: 'q', KmsMasterKeyId: { 'Fn::Sub': '${Key.Arn}' } },
      },
      Logs: { Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 90 } },
      RolePolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'p',
          Roles: [{ Ref: 'Role' }],
          PolicyDocument: {
            Statement: [{ Effect: 'Allow', Action: 'logs:*', Resource: { 'Fn::GetAtt': ['Logs', 'Arn'] } }],
          },
        },
      },
      Role: { Type: 'AWS::IAM::Role', Properties: { RoleName: 'r', AssumeRolePolicyDocument: {} } },
      Topic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 't' } },
      Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: {} } },
      KeyAlias: { Type: 'AWS::KMS::Alias', Properties: { AliasName: 'alias/k', TargetKeyId: { Ref: 'Key' } } },
      Function: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['Role', 'Arn'] } } },
    },
  };

  it('puts each resource after what it refers to and depends on, the first ready in template order next', () => {
    expect(planStack(template)).toEqual({
      // Subscription, QueuePolicy and Queue wait for Key, which comes later; Subscription also waits for QueuePolicy (DependsOn).
      order: ['Role', 'RolePolicy', 'Topic', 'Key', 'Queue', 'QueuePolicy', 'Subscription', 'KeyAlias'],
      skipped: ['Logs', 'Function'],
    });
  });

  const withResource = (id: string, resource: CfnTemplate['Resources'][string]): CfnTemplate => ({
    Resources: { ...template.Resources, [id]: resource },
  });

  it("skips the tamper trail (moto's CloudTrail sends no events to EventBridge) and keeps its key", () => {
    const plan = planStack(
      withResource('Trail', {
        Type: 'AWS::CloudTrail::Trail',
        Properties: { TrailName: 'bunker-tamper', IsLogging: true, KMSKeyId: { 'Fn::GetAtt': ['Key', 'Arn'] } },
        DependsOn: ['Key'],
      }),
      'bunker-vault',
    );

    expect(plan.skipped).toEqual(['Logs', 'Function', 'Trail']);
    expect(plan.order).toContain('Key');
  });

  it('fails on a resource type it neither creates nor skips, naming the stack, resource and type', () => {
    expect(() =>
      planStack(withResource('Machine', { Type: 'AWS::StepFunctions::StateMachine' }), 'bunker-vault'),
    ).toThrow(
      new UnsupportedTemplateError(
        'bunker-vault/Machine: the local applier does not know AWS::StepFunctions::StateMachine; teach cli/local/template-applier.ts to create it, or list it as skipped with the reason',
      ),
    );
  });

  it('fails on a property it does not apply, so a new setting is never silently dropped', () => {
    expect(() =>
      planStack(
        withResource('Fifo', { Type: 'AWS::SNS::Topic', Properties: { TopicName: 'f', ArchivePolicy: {} } }),
        's',
      ),
    ).toThrow('s/Fifo (AWS::SNS::Topic): the local applier does not support ArchivePolicy');
    expect(() =>
      planStack(
        withResource('Site', { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'b', WebsiteConfiguration: {} } }),
        's',
      ),
    ).toThrow('s/Site (AWS::S3::Bucket): the local applier does not support WebsiteConfiguration');
    expect(() => planStack(withResource('Anonymous', { Type: 'AWS::S3::Bucket', Properties: {} }), 's')).toThrow(
      's/Anonymous (AWS::S3::Bucket): BucketName must be set locally, where a second run finds the resource by its name',
    );
  });

  it('fails on a topic, queue, table or role without a name, and on a key without an alias', () => {
    expect(() => planStack(withResource('Unnamed', { Type: 'AWS::SQS::Queue', Properties: {} }), 's')).toThrow(
      's/Unnamed (AWS::SQS::Queue): QueueName must be set locally, where a second run finds the resource by its name',
    );
    expect(() => planStack(withResource('Bare', { Type: 'AWS::KMS::Key', Properties: {} }), 's')).toThrow(
      's/Bare: a KMS key needs an AWS::KMS::Alias in its template, by which a second run finds it',
    );
  });

  it('fails on a reference to a skipped resource that has no local stand-in', () => {
    expect(() =>
      planStack(
        withResource('Alarmed', {
          Type: 'AWS::SNS::Topic',
          Properties: { TopicName: 'a', DisplayName: { Ref: 'Function' } },
        }),
        's',
      ),
    ).toThrow(
      's/Alarmed: refers to Function, a AWS::Lambda::Function, which is not created locally and has no local stand-in',
    );
  });

  it('fails on circular references, parameters, conditions and cross-stack imports before applying anything', () => {
    expect(() =>
      planStack(
        {
          Resources: {
            A: { Type: 'AWS::SNS::Topic', Properties: { TopicName: { 'Fn::GetAtt': ['B', 'TopicName'] } } },
            B: { Type: 'AWS::SNS::Topic', Properties: { TopicName: { 'Fn::GetAtt': ['A', 'TopicName'] } } },
          },
        },
        's',
      ),
    ).toThrow('s: circular references among A, B');
    expect(() =>
      planStack(
        {
          Parameters: { Name: { Type: 'String' } },
          Resources: { T: { Type: 'AWS::SNS::Topic', Properties: { TopicName: { Ref: 'Name' } } } },
        },
        's',
      ),
    ).toThrow('s/T: refers to parameter Name; the local applier takes no parameters');
    expect(() =>
      planStack({ Resources: { T: { Type: 'AWS::SNS::Topic', Condition: 'IsProd', Properties: {} } } }, 's'),
    ).toThrow('s/T: Condition IsProd: template conditions are not evaluated locally');
    expect(() =>
      planStack(
        { Resources: { T: { Type: 'AWS::SNS::Topic', Properties: { TopicName: { 'Fn::ImportValue': 'x' } } } } },
        's',
      ),
    ).toThrow(CrossStackReferenceError);
  });
});

describe('emulatedBucketPolicy', () => {
  it('leaves out the conditioned denials the emulator would apply to every call, and keeps the rest', () => {
    const sslOnly = {
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:*',
      Resource: 'arn:aws:s3:::b/*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    };
    const logDelivery = {
      Effect: 'Allow',
      Principal: { Service: 'logging.s3.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: 'arn:aws:s3:::b/*',
      Condition: { StringEquals: { 'aws:SourceAccount': '111111111111' } },
    };
    const plainDeny = {
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:DeleteBucket',
      Resource: 'arn:aws:s3:::b',
    };

    expect(emulatedBucketPolicy({ Version: '2012-10-17', Statement: [sslOnly, logDelivery, plainDeny] })).toEqual({
      policy: { Version: '2012-10-17', Statement: [logDelivery, plainDeny] },
      leftOut: 1,
    });
    expect(emulatedBucketPolicy({ Version: '2012-10-17', Statement: [sslOnly] })).toEqual({ leftOut: 1 });
  });
});

describe('sameDocument', () => {
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole' }] };

  it('reads IAM URL-encoded documents and ignores whitespace and key order', () => {
    expect(sameDocument(encodeURIComponent(JSON.stringify(policy)), policy)).toBe(true);
    expect(
      sameDocument('{"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow"}], "Version": "2012-10-17"}', policy),
    ).toBe(true);
  });

  it('tells a different or missing document apart', () => {
    expect(sameDocument(JSON.stringify({ ...policy, Version: '2008-10-17' }), policy)).toBe(false);
    expect(sameDocument(undefined, policy)).toBe(false);
  });
});
