/**
 * Applies synthesized CloudFormation templates to the local emulator, so the
 * emulator holds what the CDK stacks create in AWS (keys and their policies,
 * topics, queues, the inventory table and its indexes, buckets, roles and
 * their policies, and the drill network: VPC, subnets, security group and DB
 * subnet group), read from the templates instead of written a second time by
 * hand.
 *
 * It is not CloudFormation. It creates what is missing and finds what exists
 * by name (keys by their alias); of an existing resource it only rewrites the
 * policy documents that differ from the template and adds a table's missing
 * indexes, so an emulator set up by an older Bunker converges on the current
 * templates. It never deletes anything.
 *
 * The resource types the local mode replaces with something of its own
 * (Lambda, EventBridge, logs, alarms) are skipped by an explicit list. Any
 * other type, property or intrinsic function it does not know fails the
 * stack before its first call to the emulator: a resource added to a stack
 * is never silently missing locally.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  type AttributeDefinition,
  type BillingMode,
  CreateTableCommand,
  UpdateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type KeySchemaElement,
  type Projection,
  type ProvisionedThroughput,
  type TableClass,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateRoleCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  GetKeyPolicyCommand,
  type KeySpec,
  type KeyUsageType,
  KMSClient,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import {
  CreateTopicCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  SetTopicAttributesCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  GetBucketPolicyCommand,
  HeadBucketCommand,
  type LifecycleRule,
  type ObjectOwnership,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketLoggingCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  type ServerSideEncryptionRule,
} from '@aws-sdk/client-s3';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeAvailabilityZonesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type IpPermission,
  ModifySubnetAttributeCommand,
  ModifyVpcAttributeCommand,
  RevokeSecurityGroupEgressCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CreateDBSubnetGroupCommand, DescribeDBSubnetGroupsCommand, RDSClient } from '@aws-sdk/client-rds';
import { type AwsContext, clientConfig } from '../../lambdas/adapters/aws-context';
import { BunkerError } from '../../lambdas/core/errors';

/** One resource of a synthesized template, as CloudFormation reads it. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly DependsOn?: string | readonly string[];
  readonly Condition?: string;
  readonly [attribute: string]: unknown;
}

/** The parts of a synthesized template the applier reads. */
export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, CfnResource>>;
  readonly Parameters?: Readonly<Record<string, unknown>>;
  readonly Transform?: unknown;
  readonly [section: string]: unknown;
}

/** A stack's template and where it is deployed. */
export interface StackTemplate {
  readonly stackName: string;
  readonly account: string;
  readonly region: string;
  readonly template: CfnTemplate;
}

/** The template uses a resource type, property, intrinsic function or section the applier does not support. */
export class UnsupportedTemplateError extends BunkerError {}

/** The template imports another stack's output; Bunker's stacks share deterministic names instead. */
export class CrossStackReferenceError extends UnsupportedTemplateError {}

/** The emulator holds something that contradicts the template, or answered without what was asked for. */
export class TemplateApplyError extends BunkerError {}

// ---------------------------------------------------------------------------
// Intrinsic functions
// ---------------------------------------------------------------------------

/** What `{ "Ref": "AWS::NoValue" }` resolves to: the property or list element is dropped. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

/** What intrinsic functions resolve against: pseudo parameters and the physical ids of the stack's resources. */
export interface IntrinsicScope {
  /** `AWS::Partition`, `AWS::AccountId` and the other pseudo parameters, by name. */
  readonly pseudo: Readonly<Record<string, string>>;
  /** What `Ref` of a resource returns (a key's id, a topic's ARN, a queue's URL, a role's name...). */
  ref(logicalId: string): string;
  /** What `Fn::GetAtt` of a resource's attribute returns. */
  getAtt(logicalId: string, attribute: string): string;
  /** What `Fn::GetAZs` of the stack's Region returns; without it, `Fn::GetAZs` cannot be resolved. */
  readonly availabilityZones?: readonly string[];
}

/** The partition and URL suffix of a Region, as CloudFormation's pseudo parameters give them. */
function partitionOf(region: string): { partition: string; urlSuffix: string } {
  if (region.startsWith('cn-')) return { partition: 'aws-cn', urlSuffix: 'amazonaws.com.cn' };
  if (region.startsWith('us-gov-')) return { partition: 'aws-us-gov', urlSuffix: 'amazonaws.com' };
  return { partition: 'aws', urlSuffix: 'amazonaws.com' };
}

/** The pseudo parameters of a stack deployed as `stackName` in `account` and `region`. */
export function pseudoParameters(stackName: string, account: string, region: string): Record<string, string> {
  const { partition, urlSuffix } = partitionOf(region);
  return {
    'AWS::Partition': partition,
    'AWS::AccountId': account,
    'AWS::Region': region,
    'AWS::URLSuffix': urlSuffix,
    'AWS::StackName': stackName,
    // CloudFormation's id ends in a generated UUID; nothing local depends on it.
    'AWS::StackId': `arn:${partition}:cloudformation:${region}:${account}:stack/${stackName}/local`,
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `[name, argument]` when `value` is an intrinsic function call (`{ "Ref": ... }`, `{ "Fn::Join": ... }`). */
function intrinsicOf(value: unknown): [string, unknown] | undefined {
  if (!isRecord(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const [name] = keys;
  return name === 'Ref' || name.startsWith('Fn::') ? [name, value[name]] : undefined;
}

const CONDITION_FUNCTIONS = new Set(['Fn::If', 'Fn::Equals', 'Fn::And', 'Fn::Or', 'Fn::Not']);

function unsupportedFunction(name: string, where: string): never {
  if (name === 'Fn::ImportValue') {
    throw new CrossStackReferenceError(
      `${where}: Fn::ImportValue reads another stack's export; the local applier applies each stack on its own, so stacks must name what they share`,
    );
  }
  if (CONDITION_FUNCTIONS.has(name)) {
    throw new UnsupportedTemplateError(
      `${where}: ${name} needs template Conditions, which the local applier does not evaluate`,
    );
  }
  throw new UnsupportedTemplateError(`${where}: the local applier does not support the intrinsic function ${name}`);
}

function expectString(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new UnsupportedTemplateError(`${where}: expected a string, got ${JSON.stringify(value)}`);
}

function expectList(value: unknown, where: string): unknown[] {
  if (Array.isArray(value)) return value;
  throw new UnsupportedTemplateError(`${where}: expected a list, got ${JSON.stringify(value)}`);
}

/** `Fn::GetAtt`'s two spellings: `["Id", "Attr"]` and `"Id.Attr"`. */
function getAttArguments(argument: unknown, where: string): [string, unknown] {
  if (typeof argument === 'string') {
    const dot = argument.indexOf('.');
    if (dot > 0) return [argument.slice(0, dot), argument.slice(dot + 1)];
  } else if (Array.isArray(argument) && argument.length === 2 && typeof argument[0] === 'string') {
    return [argument[0], argument[1]];
  }
  throw new UnsupportedTemplateError(`${where}: malformed Fn::GetAtt ${JSON.stringify(argument)}`);
}

/** `Fn::Sub`'s two spellings: a string, or `[string, variables]`. */
function subArguments(argument: unknown, where: string): [string, Record<string, unknown>] {
  if (typeof argument === 'string') return [argument, {}];
  if (Array.isArray(argument) && argument.length === 2 && typeof argument[0] === 'string' && isRecord(argument[1])) {
    return [argument[0], argument[1]];
  }
  throw new UnsupportedTemplateError(`${where}: malformed Fn::Sub ${JSON.stringify(argument)}`);
}

const SUB_VARIABLE = /\$\{([^}]*)\}/g;

function resolveFunction(name: string, argument: unknown, scope: IntrinsicScope, where: string): unknown {
  const at = `${where} (${name})`;
  switch (name) {
    case 'Ref': {
      const target = expectString(argument, at);
      if (target === 'AWS::NoValue') return NO_VALUE;
      if (target.startsWith('AWS::')) {
        const pseudo = scope.pseudo[target];
        if (pseudo === undefined) throw new UnsupportedTemplateError(`${at}: unsupported pseudo parameter ${target}`);
        return pseudo;
      }
      return scope.ref(target);
    }
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = getAttArguments(argument, at);
      return scope.getAtt(logicalId, expectString(resolveValue(attribute, scope, at), at));
    }
    case 'Fn::Join': {
      const [delimiter, list] = expectList(argument, at);
      const parts = expectList(resolveValue(list, scope, at), at);
      return parts.map((part) => expectString(part, at)).join(expectString(delimiter, at));
    }
    case 'Fn::Select': {
      const [index, list] = expectList(argument, at);
      const items = expectList(resolveValue(list, scope, at), at);
      const position = Number(resolveValue(index, scope, at));
      if (!Number.isInteger(position) || position < 0 || position >= items.length) {
        throw new UnsupportedTemplateError(`${at}: index ${String(index)} is outside a list of ${items.length}`);
      }
      return items[position];
    }
    case 'Fn::GetAZs': {
      // '' and the stack's own Region are the only arguments CloudFormation's templates here use.
      const region = expectString(resolveValue(argument, scope, at), at);
      if (region !== '' && region !== scope.pseudo['AWS::Region']) {
        throw new UnsupportedTemplateError(`${at}: the Availability Zones of another Region (${region})`);
      }
      if (!scope.availabilityZones) throw new UnsupportedTemplateError(`${at}: no Availability Zones known here`);
      return [...scope.availabilityZones];
    }
    case 'Fn::Split': {
      const [delimiter, source] = expectList(argument, at);
      return expectString(resolveValue(source, scope, at), at).split(expectString(delimiter, at));
    }
    case 'Fn::Sub': {
      const [text, variables] = subArguments(argument, at);
      const values = Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [key, expectString(resolveValue(value, scope, at), at)]),
      );
      return text.replace(SUB_VARIABLE, (_match, variable: string) => {
        if (variable.startsWith('!')) return `\${${variable.slice(1)}}`;
        if (variable in values) return values[variable];
        if (variable.startsWith('AWS::')) return expectString(resolveFunction('Ref', variable, scope, at), at);
        const dot = variable.indexOf('.');
        return dot > 0 ? scope.getAtt(variable.slice(0, dot), variable.slice(dot + 1)) : scope.ref(variable);
      });
    }
    default:
      return unsupportedFunction(name, where);
  }
}

function resolveValue(value: unknown, scope: IntrinsicScope, where: string): unknown {
  const intrinsic = intrinsicOf(value);
  if (intrinsic) return resolveFunction(intrinsic[0], intrinsic[1], scope, where);
  if (Array.isArray(value)) {
    return value.map((item, index) => resolveValue(item, scope, `${where}[${index}]`)).filter((v) => v !== NO_VALUE);
  }
  if (isRecord(value)) {
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const result = resolveValue(item, scope, `${where}.${key}`);
      if (result !== NO_VALUE) resolved[key] = result;
    }
    return resolved;
  }
  return value;
}

/**
 * `value` with every intrinsic function replaced by its value in `scope`:
 * `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub` (both forms), `Fn::Select`,
 * `Fn::Split` and `Fn::GetAZs` (of the scope's `availabilityZones`); `AWS::NoValue` drops the property or list element. `where`
 * names the value in error messages.
 *
 * @throws UnsupportedTemplateError for any other function (conditions included)
 * @throws CrossStackReferenceError for `Fn::ImportValue`
 */
export function resolveIntrinsics(value: unknown, scope: IntrinsicScope, where = 'value'): unknown {
  const resolved = resolveValue(value, scope, where);
  return resolved === NO_VALUE ? undefined : resolved;
}

/** A reference found in a template value: `Ref` (no attribute) or an attribute of `Fn::GetAtt` / `Fn::Sub`. */
export interface TemplateReference {
  readonly logicalId: string;
  readonly attribute?: string;
}

const SUPPORTED_FUNCTIONS = new Set([
  'Ref',
  'Fn::GetAtt',
  'Fn::GetAZs',
  'Fn::Join',
  'Fn::Select',
  'Fn::Split',
  'Fn::Sub',
]);

/**
 * Every resource or parameter `value` refers to (pseudo parameters left out).
 * With `strict`, an intrinsic function {@link resolveIntrinsics} cannot
 * resolve throws here, before anything is applied.
 */
export function referencesOf(value: unknown, where: string, strict: boolean): TemplateReference[] {
  const found: TemplateReference[] = [];
  const walk = (node: unknown, at: string): void => {
    const intrinsic = intrinsicOf(node);
    if (!intrinsic) {
      if (Array.isArray(node)) node.forEach((item, index) => walk(item, `${at}[${index}]`));
      else if (isRecord(node)) for (const [key, item] of Object.entries(node)) walk(item, `${at}.${key}`);
      return;
    }
    const [name, argument] = intrinsic;
    if (strict && !SUPPORTED_FUNCTIONS.has(name)) unsupportedFunction(name, at);
    if (name === 'Ref') {
      if (typeof argument === 'string' && !argument.startsWith('AWS::')) found.push({ logicalId: argument });
      return;
    }
    if (name === 'Fn::GetAtt') {
      const [logicalId, attribute] = getAttArguments(argument, at);
      found.push(typeof attribute === 'string' ? { logicalId, attribute } : { logicalId });
      if (typeof attribute !== 'string') walk(attribute, at);
      return;
    }
    if (name === 'Fn::Sub') {
      const [text, variables] = subArguments(argument, at);
      for (const [, variable] of text.matchAll(SUB_VARIABLE)) {
        if (variable.startsWith('!') || variable.startsWith('AWS::') || variable in variables) continue;
        const dot = variable.indexOf('.');
        found.push(
          dot > 0 ? { logicalId: variable.slice(0, dot), attribute: variable.slice(dot + 1) } : { logicalId: variable },
        );
      }
      walk(variables, at);
      return;
    }
    walk(argument, at);
  };
  walk(value, where);
  return found;
}

// ---------------------------------------------------------------------------
// What is applied, what is skipped
// ---------------------------------------------------------------------------

/**
 * Resource types the local mode does not create, and why. `bunker local run`
 * stands in for what they do in AWS.
 */
export const SKIPPED_TYPES: Readonly<Record<string, string>> = {
  'AWS::Lambda::Function': '`bunker local run` calls the handlers in-process',
  'AWS::Lambda::Permission': 'no Lambda functions locally',
  'AWS::Lambda::EventSourceMapping': '`bunker local run` polls the queue and hands batches to the handler',
  'AWS::Logs::LogGroup': 'the handlers log to the terminal locally',
  'AWS::Events::Rule':
    '`bunker local run` runs the sweeps, delivers the RDS events and starts the pulls itself; `bunker drill --endpoint` runs drills when asked',
  'AWS::CloudWatch::Alarm': 'nothing alarms locally',
  'AWS::CloudWatch::Dashboard': 'no CloudWatch console locally; `bunker status` shows the same numbers',
  'AWS::Rbin::Rule': 'moto has no Recycle Bin; locally a deleted snapshot or image is gone at once',
  // The tamper trail's key and log buckets are applied; only the trail is not.
  'AWS::CloudTrail::Trail':
    "moto's CloudTrail does not deliver events to EventBridge (whose rules are skipped too): locally a trail feeds no alarm",
  // The drill network itself (VPC, subnets, security group, DB subnet group) is applied; only its flow log is not.
  'AWS::EC2::FlowLog': 'its log group is not created locally, so the flow log would have nowhere to deliver',
  // The drill network's rules between its groups let the engine probe function (not deployed locally) reach restored databases.
  'AWS::EC2::SecurityGroupIngress':
    'the engine probe function is not deployed locally: `bunker drill --endpoint` probes in-process',
  'AWS::EC2::SecurityGroupEgress':
    'the engine probe function is not deployed locally: `bunker drill --endpoint` probes in-process',
  'AWS::CDK::Metadata': 'CDK version reporting; nothing to create',
  'AWS::CloudFormation::CustomResource': 'its provider is a Lambda function, which the local mode does not deploy',
};

/**
 * Resource types the local mode skips only in one shape, and why; in any
 * other shape they are unknown, as a type of neither list is.
 */
const SKIPPED_WHEN: Readonly<Record<string, { readonly reason: string; when(resource: CfnResource): boolean }>> = {
  'AWS::StepFunctions::StateMachine': {
    reason:
      'its tasks only invoke Lambda functions, which the local mode does not deploy: `bunker drill --endpoint` runs the same steps in-process',
    when: (resource) => onlyInvokesLambda(resource.Properties?.DefinitionString),
  },
};

/**
 * Whether a state machine definition has tasks and every one invokes a
 * Lambda function (`arn:<partition>:states:::lambda:invoke`, or a function
 * ARN). The definition is read as CloudFormation holds it: text, or the
 * `Fn::Join` CDK makes of it, whose references are left out here.
 */
function onlyInvokesLambda(definition: unknown): boolean {
  const join = intrinsicOf(definition);
  const text =
    typeof definition === 'string'
      ? definition
      : join?.[0] === 'Fn::Join' && Array.isArray(join[1]) && Array.isArray(join[1][1])
        ? (join[1][1] as unknown[]).map((part) => (typeof part === 'string' ? part : '')).join('')
        : undefined;
  if (text === undefined) return false;
  const resources = [...text.matchAll(/"Resource":"([^"]*)"/g)].map(([, resource]) => resource);
  return (
    resources.length > 0 &&
    resources.every((resource) => /^arn:[^:]*:states:::lambda:invoke$/.test(resource) || /:function:/.test(resource))
  );
}

/**
 * Why `type` is skipped, or undefined when it is not. `Custom::*` are custom
 * resources. A type skipped in one shape only is skipped when `resource`
 * has that shape.
 */
export function skipReason(type: string, resource?: CfnResource): string | undefined {
  const conditional = SKIPPED_WHEN[type];
  if (conditional) return resource && conditional.when(resource) ? conditional.reason : undefined;
  return (
    SKIPPED_TYPES[type] ??
    (type.startsWith('Custom::') ? SKIPPED_TYPES['AWS::CloudFormation::CustomResource'] : undefined)
  );
}

/**
 * What stands in for an attribute of a skipped resource that an applied one
 * names: a role's policy names its function's log group, which is not created.
 */
interface StandIn {
  readonly attributes: readonly string[];
  value(
    stack: StackTemplate,
    logicalId: string,
    properties: Readonly<Record<string, unknown>>,
    attribute?: string,
  ): string;
}

const STAND_INS: Readonly<Record<string, StandIn>> = {
  'AWS::Logs::LogGroup': {
    attributes: ['Arn'],
    value(stack, logicalId, properties, attribute) {
      // CloudFormation generates "<stack>-<logical id>-<random>"; the local name drops the random part.
      const name =
        properties.LogGroupName === undefined
          ? `${stack.stackName}-${logicalId}`
          : expectString(properties.LogGroupName, `${logicalId}.LogGroupName`);
      if (attribute === undefined) return name;
      const { partition } = partitionOf(stack.region);
      return `arn:${partition}:logs:${stack.region}:${stack.account}:log-group:${name}:*`;
    },
  },
};

/** The outcome of applying one resource. */
export type ApplyOutcome =
  /** The resource did not exist and was created. */
  | 'created'
  /** A policy document was written: a policy resource's, or one of an existing resource that differed from the template. */
  | 'written'
  /** Already as in the template. */
  | 'unchanged';

/** A resource the applier created or found, with the values intrinsic functions resolve to. */
export interface AppliedResource {
  readonly logicalId: string;
  readonly type: string;
  readonly outcome: ApplyOutcome;
  /** What `Ref` returns. */
  readonly ref: string;
  /** What `Fn::GetAtt` returns, by attribute. */
  readonly attributes: Readonly<Record<string, string>>;
  /** The template's properties with intrinsics resolved, as applied. */
  readonly properties: Readonly<Record<string, unknown>>;
}

/** A stack as the applier left it on the emulator. */
export interface AppliedStack {
  readonly stackName: string;
  readonly account: string;
  readonly region: string;
  /** In the order they were applied. */
  readonly resources: readonly AppliedResource[];
  /** Logical ids of the resources of {@link SKIPPED_TYPES}. */
  readonly skipped: readonly string[];
}

/**
 * The one applied resource of `type` whose resolved `property` equals `value`,
 * such as the queue named "bunker-intake".
 *
 * @throws TemplateApplyError when there is none or more than one
 */
export function findApplied(stack: AppliedStack, type: string, property: string, value: unknown): AppliedResource {
  const matches = stack.resources.filter((r) => r.type === type && isDeepStrictEqual(r.properties[property], value));
  if (matches.length !== 1) {
    throw new TemplateApplyError(
      `${stack.stackName}: expected one ${type} with ${property} ${JSON.stringify(value)}, found ${matches.length}`,
    );
  }
  return matches[0];
}

// ---------------------------------------------------------------------------
// Resource handlers
// ---------------------------------------------------------------------------

interface StackClients {
  readonly s3: S3Client;
  readonly kms: KMSClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly iam: IAMClient;
  readonly ec2: EC2Client;
  readonly rds: RDSClient;
}

interface HandlerContext {
  readonly stack: StackTemplate;
  readonly logicalId: string;
  readonly partition: string;
  readonly clients: StackClients;
  /** Resolves another part of the template (a key's aliases) against what is applied so far. */
  resolve(value: unknown, where: string): unknown;
  say(line: string): void;
  /** Runs `step` after every resource of the stack is applied (what needs a policy applied later first). */
  later(step: () => Promise<void>): void;
}

interface HandlerResult {
  readonly outcome: ApplyOutcome;
  readonly ref: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

interface ResourceHandler {
  /** The properties it applies; any other fails the stack before anything is applied. */
  readonly properties: readonly string[];
  /** Properties that only steer CloudFormation (deletion windows) and mean nothing locally. */
  readonly ignored?: readonly string[];
  /** Properties CloudFormation can do without but the applier cannot: the names a second run finds resources by. */
  readonly required?: readonly string[];
  /** What `Fn::GetAtt` may ask of it. */
  readonly attributes: readonly string[];
  /** Checks the template's (unresolved) properties before anything is applied; throws what is not supported. */
  check?(properties: Readonly<Record<string, unknown>>, where: string): void;
  apply(properties: Properties, context: HandlerContext): Promise<HandlerResult>;
}

/** A resource's resolved properties, read with the types CloudFormation allows for them. */
class Properties {
  constructor(
    readonly values: Readonly<Record<string, unknown>>,
    private readonly where: string,
  ) {}

  private fail(name: string, expected: string): never {
    throw new UnsupportedTemplateError(
      `${this.where}.${name}: expected ${expected}, got ${JSON.stringify(this.values[name])}`,
    );
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  string(name: string): string {
    return this.optionalString(name) ?? this.fail(name, 'a string');
  }

  optionalString(name: string): string | undefined {
    const value = this.values[name];
    if (value === undefined || typeof value === 'string') return value;
    return this.fail(name, 'a string');
  }

  optionalNumber(name: string): number | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    const number = typeof value === 'string' ? Number(value) : value;
    return typeof number === 'number' && Number.isFinite(number) ? number : this.fail(name, 'a number');
  }

  optionalBoolean(name: string): boolean | undefined {
    const value = this.values[name];
    if (value === undefined || typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    return this.fail(name, 'a boolean');
  }

  /** A JSON document: CloudFormation takes an object or its JSON text. */
  optionalDocument(name: string): Record<string, unknown> | undefined {
    const value = this.values[name];
    if (value === undefined || isRecord(value)) return value;
    if (typeof value === 'string') {
      const parsed: unknown = JSON.parse(value);
      if (isRecord(parsed)) return parsed;
    }
    return this.fail(name, 'a JSON object');
  }

  document(name: string): Record<string, unknown> {
    return this.optionalDocument(name) ?? this.fail(name, 'a JSON object');
  }

  optionalRecords(name: string): Record<string, unknown>[] | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    return Array.isArray(value) && value.every(isRecord) ? value : this.fail(name, 'a list of objects');
  }

  /** A nested object whose keys must all be in `known`, so a new sub-property fails loudly too. */
  optionalObject(name: string, known: readonly string[]): Record<string, unknown> | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if (!isRecord(value)) return this.fail(name, 'an object');
    checkKeys(value, known, `${this.where}.${name}`);
    return value;
  }

  strings(name: string): string[] {
    const value = this.values[name];
    return Array.isArray(value) && value.every((item) => typeof item === 'string')
      ? value
      : this.fail(name, 'a list of strings');
  }

  tags(name = 'Tags'): { Key: string; Value: string }[] | undefined {
    const tags = this.optionalRecords(name);
    return tags?.map((tag, index) => {
      checkKeys(tag, ['Key', 'Value'], `${this.where}.${name}[${index}]`);
      return {
        Key: expectString(tag.Key, `${this.where}.${name}[${index}].Key`),
        Value: expectString(tag.Value, `${this.where}.${name}[${index}].Value`),
      };
    });
  }
}

function checkKeys(value: Readonly<Record<string, unknown>>, known: readonly string[], where: string): void {
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new UnsupportedTemplateError(`${where}: the local applier does not support ${unknown.join(', ')}`);
  }
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : '');

/** Runs `call`, or returns undefined when it failed with one of `notFound` (the resource does not exist). */
async function unlessMissing<T>(notFound: readonly string[], call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (notFound.includes(errorName(error))) return undefined;
    throw error;
  }
}

function required<T>(value: T | undefined | null, what: string, context: HandlerContext): T {
  if (value === undefined || value === null) {
    throw new TemplateApplyError(`${context.stack.stackName}/${context.logicalId}: the emulator returned no ${what}`);
  }
  return value;
}

/**
 * Whether a policy document read back from AWS equals the template's. IAM
 * returns its documents URL-encoded; whitespace and key order do not count.
 */
export function sameDocument(current: string | undefined, desired: unknown): boolean {
  if (current === undefined || current === '') return false;
  const text = current.trimStart().startsWith('{') ? current : decodeURIComponent(current);
  return isDeepStrictEqual(JSON.parse(text), JSON.parse(JSON.stringify(desired)));
}

const KMS_NOT_FOUND = ['NotFoundException'];
const SNS_NOT_FOUND = ['NotFoundException', 'NotFound'];
const SQS_NOT_FOUND = ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue'];
const DYNAMODB_NOT_FOUND = ['ResourceNotFoundException'];
const IAM_NOT_FOUND = ['NoSuchEntityException', 'NoSuchEntity'];

/** The template's `AWS::KMS::Alias` resources that point at the key `keyId`. */
function aliasResourcesOf(template: CfnTemplate, keyId: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(
    ([, resource]) =>
      resource.Type === 'AWS::KMS::Alias' &&
      referencesOf(resource.Properties?.TargetKeyId, 'TargetKeyId', false).some((r) => r.logicalId === keyId),
  );
}

const hasAlias = (template: CfnTemplate, keyId: string) => aliasResourcesOf(template, keyId).length > 0;

/** The alias names of the template's `AWS::KMS::Alias` resources that point at the key `keyId`. */
function aliasesOf(template: CfnTemplate, keyId: string, context: HandlerContext): string[] {
  return aliasResourcesOf(template, keyId).map(([aliasId, resource]) =>
    expectString(context.resolve(resource.Properties?.AliasName, `${aliasId}.AliasName`), `${aliasId}.AliasName`),
  );
}

const kmsKey = (template: CfnTemplate): ResourceHandler => ({
  properties: ['Description', 'KeyPolicy', 'EnableKeyRotation', 'KeySpec', 'KeyUsage', 'Tags'],
  ignored: ['PendingWindowInDays'],
  attributes: ['Arn', 'KeyId'],
  async apply(properties, context) {
    const { kms } = context.clients;
    // planStack made sure there is one.
    const aliases = aliasesOf(template, context.logicalId, context);
    const policy = properties.optionalDocument('KeyPolicy');
    const existing = await unlessMissing(KMS_NOT_FOUND, () => kms.send(new DescribeKeyCommand({ KeyId: aliases[0] })));
    if (existing) {
      const keyId = required(existing.KeyMetadata?.KeyId, 'key id', context);
      const attributes = { Arn: required(existing.KeyMetadata?.Arn, 'key ARN', context), KeyId: keyId };
      if (!policy) return { outcome: 'unchanged', ref: keyId, attributes };
      const current = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }));
      if (sameDocument(current.Policy, policy)) return { outcome: 'unchanged', ref: keyId, attributes };
      await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(policy) }));
      context.say(`rewrote the key policy of KMS key ${aliases[0]}`);
      return { outcome: 'written', ref: keyId, attributes };
    }
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({
        Description: properties.optionalString('Description'),
        Policy: policy && JSON.stringify(policy),
        KeySpec: properties.optionalString('KeySpec') as KeySpec | undefined,
        KeyUsage: properties.optionalString('KeyUsage') as KeyUsageType | undefined,
        Tags: properties.tags()?.map((tag) => ({ TagKey: tag.Key, TagValue: tag.Value })),
      }),
    );
    const keyId = required(KeyMetadata?.KeyId, 'key id', context);
    if (properties.optionalBoolean('EnableKeyRotation')) {
      await kms.send(new EnableKeyRotationCommand({ KeyId: keyId }));
    }
    context.say(`created KMS key ${aliases.join(', ')}`);
    return {
      outcome: 'created',
      ref: keyId,
      attributes: { Arn: required(KeyMetadata?.Arn, 'key ARN', context), KeyId: keyId },
    };
  },
});

const kmsAlias: ResourceHandler = {
  properties: ['AliasName', 'TargetKeyId'],
  attributes: [],
  async apply(properties, context) {
    const { kms } = context.clients;
    const aliasName = properties.string('AliasName');
    const target = properties.string('TargetKeyId');
    const existing = await unlessMissing(KMS_NOT_FOUND, () => kms.send(new DescribeKeyCommand({ KeyId: aliasName })));
    if (existing) {
      if (existing.KeyMetadata?.KeyId !== target && existing.KeyMetadata?.Arn !== target) {
        throw new TemplateApplyError(
          `${context.stack.stackName}/${context.logicalId}: ${aliasName} already points at ${existing.KeyMetadata?.Arn}, not ${target}`,
        );
      }
      return { outcome: 'unchanged', ref: aliasName };
    }
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: target }));
    context.say(`created KMS alias ${aliasName}`);
    return { outcome: 'created', ref: aliasName };
  },
};

const snsTopic: ResourceHandler = {
  properties: ['TopicName', 'DisplayName', 'KmsMasterKeyId', 'FifoTopic', 'ContentBasedDeduplication', 'Tags'],
  required: ['TopicName'],
  attributes: ['TopicArn', 'TopicName'],
  async apply(properties, context) {
    const { sns } = context.clients;
    const { stack, partition } = context;
    const name = properties.string('TopicName');
    const arn = `arn:${partition}:sns:${stack.region}:${stack.account}:${name}`;
    const attributes = { TopicArn: arn, TopicName: name };
    if (await unlessMissing(SNS_NOT_FOUND, () => sns.send(new GetTopicAttributesCommand({ TopicArn: arn })))) {
      return { outcome: 'unchanged', ref: arn, attributes };
    }
    const topicAttributes: Record<string, string> = {};
    for (const attribute of ['DisplayName', 'KmsMasterKeyId', 'FifoTopic', 'ContentBasedDeduplication']) {
      if (properties.has(attribute)) topicAttributes[attribute] = String(properties.values[attribute]);
    }
    const { TopicArn } = await sns.send(
      new CreateTopicCommand({ Name: name, Attributes: topicAttributes, Tags: properties.tags() }),
    );
    if (TopicArn !== arn) {
      throw new TemplateApplyError(`${stack.stackName}/${context.logicalId}: created ${TopicArn}, expected ${arn}`);
    }
    context.say(`created SNS topic ${name}`);
    return { outcome: 'created', ref: arn, attributes };
  },
};

const snsTopicPolicy: ResourceHandler = {
  properties: ['PolicyDocument', 'Topics'],
  attributes: [],
  async apply(properties, context) {
    const { sns } = context.clients;
    const policy = properties.document('PolicyDocument');
    let outcome: ApplyOutcome = 'unchanged';
    for (const topicArn of properties.strings('Topics')) {
      const { Attributes } = await sns.send(new GetTopicAttributesCommand({ TopicArn: topicArn }));
      if (sameDocument(Attributes?.Policy, policy)) continue;
      await sns.send(
        new SetTopicAttributesCommand({
          TopicArn: topicArn,
          AttributeName: 'Policy',
          AttributeValue: JSON.stringify(policy),
        }),
      );
      context.say(`set the policy of SNS topic ${topicArn.split(':').pop()}`);
      outcome = 'written';
    }
    return { outcome, ref: context.logicalId };
  },
};

const snsSubscription: ResourceHandler = {
  properties: [
    'TopicArn',
    'Protocol',
    'Endpoint',
    'RawMessageDelivery',
    'RedrivePolicy',
    'FilterPolicy',
    'FilterPolicyScope',
    'DeliveryPolicy',
  ],
  attributes: [],
  async apply(properties, context) {
    const { sns } = context.clients;
    const topicArn = properties.string('TopicArn');
    const protocol = properties.string('Protocol');
    const endpoint = properties.string('Endpoint');
    let nextToken: string | undefined;
    do {
      const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: nextToken }));
      const existing = page.Subscriptions?.find((s) => s.Protocol === protocol && s.Endpoint === endpoint);
      if (existing)
        return { outcome: 'unchanged', ref: required(existing.SubscriptionArn, 'subscription ARN', context) };
      nextToken = page.NextToken;
    } while (nextToken);
    const attributes: Record<string, string> = {};
    const raw = properties.optionalBoolean('RawMessageDelivery');
    if (raw !== undefined) attributes.RawMessageDelivery = String(raw);
    for (const name of ['RedrivePolicy', 'FilterPolicy', 'DeliveryPolicy']) {
      const document = properties.optionalDocument(name);
      if (document) attributes[name] = JSON.stringify(document);
    }
    const scope = properties.optionalString('FilterPolicyScope');
    if (scope) attributes.FilterPolicyScope = scope;
    const { SubscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: protocol,
        Endpoint: endpoint,
        Attributes: attributes,
        ReturnSubscriptionArn: true,
      }),
    );
    context.say(`subscribed ${protocol} ${endpoint.split(':').pop()} to SNS topic ${topicArn.split(':').pop()}`);
    return { outcome: 'created', ref: required(SubscriptionArn, 'subscription ARN', context) };
  },
};

/** CloudFormation's queue properties that are SQS queue attributes of the same name. */
const QUEUE_ATTRIBUTES = [
  'DelaySeconds',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'RedriveAllowPolicy',
  'RedrivePolicy',
  'SqsManagedSseEnabled',
  'VisibilityTimeout',
];

const sqsQueue: ResourceHandler = {
  properties: ['QueueName', 'Tags', ...QUEUE_ATTRIBUTES],
  required: ['QueueName'],
  attributes: ['Arn', 'QueueName', 'QueueUrl'],
  async apply(properties, context) {
    const { sqs } = context.clients;
    const name = properties.string('QueueName');
    const found = await unlessMissing(SQS_NOT_FOUND, () => sqs.send(new GetQueueUrlCommand({ QueueName: name })));
    let url = found?.QueueUrl;
    if (!url) {
      const attributes: Record<string, string> = {};
      for (const attribute of QUEUE_ATTRIBUTES) {
        const value = properties.values[attribute];
        if (value !== undefined) attributes[attribute] = isRecord(value) ? JSON.stringify(value) : String(value);
      }
      const tags = properties.tags();
      const created = await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: attributes,
          tags: tags && Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value])),
        }),
      );
      url = required(created.QueueUrl, 'queue URL', context);
      context.say(`created SQS queue ${name}`);
    }
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    const arn = required(Attributes?.QueueArn, 'queue ARN', context);
    return {
      outcome: found ? 'unchanged' : 'created',
      ref: url,
      attributes: { Arn: arn, QueueName: name, QueueUrl: url },
    };
  },
};

const sqsQueuePolicy: ResourceHandler = {
  properties: ['PolicyDocument', 'Queues'],
  attributes: [],
  async apply(properties, context) {
    const { sqs } = context.clients;
    const policy = properties.document('PolicyDocument');
    let outcome: ApplyOutcome = 'unchanged';
    for (const queueUrl of properties.strings('Queues')) {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['Policy'] }),
      );
      if (sameDocument(Attributes?.Policy, policy)) continue;
      await sqs.send(
        new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: JSON.stringify(policy) } }),
      );
      context.say(`set the policy of SQS queue ${queueUrl.split('/').pop()}`);
      outcome = 'written';
    }
    return { outcome, ref: context.logicalId };
  },
};

const INDEX_KEYS = ['IndexName', 'KeySchema', 'Projection', 'ProvisionedThroughput'];

function indexes(properties: Properties, name: string) {
  return properties.optionalRecords(name)?.map((index, position) => {
    checkKeys(index, INDEX_KEYS, `${name}[${position}]`);
    return {
      IndexName: expectString(index.IndexName, `${name}[${position}].IndexName`),
      KeySchema: index.KeySchema as KeySchemaElement[],
      Projection: index.Projection as Projection,
      ProvisionedThroughput: index.ProvisionedThroughput as ProvisionedThroughput | undefined,
    };
  });
}

const dynamodbTable: ResourceHandler = {
  properties: [
    'TableName',
    'AttributeDefinitions',
    'KeySchema',
    'GlobalSecondaryIndexes',
    'LocalSecondaryIndexes',
    'BillingMode',
    'ProvisionedThroughput',
    'SSESpecification',
    'PointInTimeRecoverySpecification',
    'TimeToLiveSpecification',
    'DeletionProtectionEnabled',
    'StreamSpecification',
    'TableClass',
    'Tags',
  ],
  required: ['TableName'],
  attributes: ['Arn', 'StreamArn'],
  async apply(properties, context) {
    const { dynamodb } = context.clients;
    const name = properties.string('TableName');
    const attributesOf = (table: { TableArn?: string; LatestStreamArn?: string } | undefined) => ({
      Arn: required(table?.TableArn, 'table ARN', context),
      ...(table?.LatestStreamArn ? { StreamArn: table.LatestStreamArn } : {}),
    });
    const existing = await unlessMissing(DYNAMODB_NOT_FOUND, () =>
      dynamodb.send(new DescribeTableCommand({ TableName: name })),
    );
    if (existing) {
      // An index added to the stack after the table was made (by-pull-scope): created, as CloudFormation would.
      const present = new Set((existing.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
      const missing = (indexes(properties, 'GlobalSecondaryIndexes') ?? []).filter((i) => !present.has(i.IndexName));
      for (const index of missing) {
        await dynamodb.send(
          new UpdateTableCommand({
            TableName: name,
            AttributeDefinitions: properties.optionalRecords('AttributeDefinitions') as
              AttributeDefinition[] | undefined,
            GlobalSecondaryIndexUpdates: [{ Create: index }],
          }),
        );
        context.say(`created index ${index.IndexName} of DynamoDB table ${name}`);
      }
      return {
        outcome: missing.length > 0 ? 'written' : 'unchanged',
        ref: name,
        attributes: attributesOf(existing.Table),
      };
    }

    const sse = properties.optionalObject('SSESpecification', ['SSEEnabled', 'SSEType', 'KMSMasterKeyId']);
    const stream = properties.optionalObject('StreamSpecification', ['StreamViewType']);
    const pitr = properties.optionalObject('PointInTimeRecoverySpecification', [
      'PointInTimeRecoveryEnabled',
      'RecoveryPeriodInDays',
    ]);
    const ttl = properties.optionalObject('TimeToLiveSpecification', ['AttributeName', 'Enabled']);
    const { TableDescription } = await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: properties.optionalRecords('AttributeDefinitions') as AttributeDefinition[] | undefined,
        KeySchema: properties.optionalRecords('KeySchema') as KeySchemaElement[] | undefined,
        GlobalSecondaryIndexes: indexes(properties, 'GlobalSecondaryIndexes'),
        LocalSecondaryIndexes: indexes(properties, 'LocalSecondaryIndexes'),
        BillingMode: properties.optionalString('BillingMode') as BillingMode | undefined,
        ProvisionedThroughput: properties.values.ProvisionedThroughput as ProvisionedThroughput | undefined,
        SSESpecification: sse && {
          Enabled: sse.SSEEnabled as boolean | undefined,
          SSEType: sse.SSEType as 'KMS' | 'AES256' | undefined,
          KMSMasterKeyId: sse.KMSMasterKeyId as string | undefined,
        },
        StreamSpecification: stream && { StreamEnabled: true, StreamViewType: stream.StreamViewType as never },
        DeletionProtectionEnabled: properties.optionalBoolean('DeletionProtectionEnabled'),
        TableClass: properties.optionalString('TableClass') as TableClass | undefined,
        Tags: properties.tags(),
      }),
    );
    await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName: name });
    if (pitr?.PointInTimeRecoveryEnabled) {
      await dynamodb.send(
        new UpdateContinuousBackupsCommand({
          TableName: name,
          PointInTimeRecoverySpecification: {
            PointInTimeRecoveryEnabled: true,
            RecoveryPeriodInDays: pitr.RecoveryPeriodInDays as number | undefined,
          },
        }),
      );
    }
    if (ttl?.Enabled) {
      await dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { Enabled: true, AttributeName: ttl.AttributeName as string },
        }),
      );
    }
    context.say(`created DynamoDB table ${name}`);
    return { outcome: 'created', ref: name, attributes: attributesOf(TableDescription) };
  },
};

/** Puts `document` as the inline policy `policyName` of `roleName` unless it is there already; true if it put it. */
async function ensureRolePolicy(
  iam: IAMClient,
  roleName: string,
  policyName: string,
  document: unknown,
): Promise<boolean> {
  const current = await unlessMissing(IAM_NOT_FOUND, () =>
    iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName })),
  );
  if (sameDocument(current?.PolicyDocument, document)) return false;
  await iam.send(
    new PutRolePolicyCommand({ RoleName: roleName, PolicyName: policyName, PolicyDocument: JSON.stringify(document) }),
  );
  return true;
}

const iamRole: ResourceHandler = {
  properties: ['RoleName', 'AssumeRolePolicyDocument', 'Description', 'MaxSessionDuration', 'Path', 'Policies', 'Tags'],
  required: ['RoleName'],
  attributes: ['Arn', 'RoleId'],
  async apply(properties, context) {
    const { iam } = context.clients;
    const name = properties.string('RoleName');
    const trust = properties.document('AssumeRolePolicyDocument');
    const inline = (properties.optionalRecords('Policies') ?? []).map((policy, index) => {
      checkKeys(policy, ['PolicyName', 'PolicyDocument'], `${context.logicalId}.Policies[${index}]`);
      return {
        name: expectString(policy.PolicyName, `${context.logicalId}.Policies[${index}].PolicyName`),
        document: policy.PolicyDocument,
      };
    });
    const existing = await unlessMissing(IAM_NOT_FOUND, () => iam.send(new GetRoleCommand({ RoleName: name })));
    let outcome: ApplyOutcome = existing ? 'unchanged' : 'created';
    let role = existing?.Role;
    if (!role) {
      const created = await iam.send(
        new CreateRoleCommand({
          RoleName: name,
          AssumeRolePolicyDocument: JSON.stringify(trust),
          Description: properties.optionalString('Description'),
          MaxSessionDuration: properties.optionalNumber('MaxSessionDuration'),
          Path: properties.optionalString('Path'),
          Tags: properties.tags(),
        }),
      );
      role = created.Role;
      context.say(`created IAM role ${name}`);
    } else if (!sameDocument(role.AssumeRolePolicyDocument, trust)) {
      await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: name, PolicyDocument: JSON.stringify(trust) }));
      context.say(`rewrote the trust policy of IAM role ${name}`);
      outcome = 'written';
    }
    for (const policy of inline) {
      if ((await ensureRolePolicy(iam, name, policy.name, policy.document)) && outcome !== 'created') {
        context.say(`put policy ${policy.name} on IAM role ${name}`);
        outcome = 'written';
      }
    }
    return {
      outcome,
      ref: name,
      attributes: { Arn: required(role?.Arn, 'role ARN', context), RoleId: required(role?.RoleId, 'role id', context) },
    };
  },
};

const iamPolicy: ResourceHandler = {
  properties: ['PolicyName', 'PolicyDocument', 'Roles'],
  attributes: [],
  async apply(properties, context) {
    const { iam } = context.clients;
    const name = properties.string('PolicyName');
    const document = properties.document('PolicyDocument');
    let outcome: ApplyOutcome = 'unchanged';
    for (const role of properties.strings('Roles')) {
      if (await ensureRolePolicy(iam, role, name, document)) {
        context.say(`put policy ${name} on IAM role ${role}`);
        outcome = 'written';
      }
    }
    return { outcome, ref: name };
  },
};

const S3_NOT_FOUND = ['NotFound', 'NoSuchBucket', 'NoSuchBucketPolicy'];

/**
 * A bucket: created with its Object Lock, ownership, versioning, default
 * encryption, public access block, lifecycle and tags. Server access logging
 * is set once the stack's bucket policies are in place, because the log
 * bucket's policy must admit log delivery first (the emulator checks, as
 * S3 does). Of an existing bucket nothing is changed.
 */
const s3Bucket: ResourceHandler = {
  properties: [
    'BucketName',
    'VersioningConfiguration',
    'ObjectLockEnabled',
    'ObjectLockConfiguration',
    'BucketEncryption',
    'PublicAccessBlockConfiguration',
    'OwnershipControls',
    'LifecycleConfiguration',
    'LoggingConfiguration',
    'Tags',
  ],
  required: ['BucketName'],
  attributes: ['Arn', 'DomainName', 'RegionalDomainName'],
  async apply(properties, context) {
    const { s3 } = context.clients;
    const { stack, partition } = context;
    const name = properties.string('BucketName');
    const attributes = {
      Arn: `arn:${partition}:s3:::${name}`,
      DomainName: `${name}.s3.amazonaws.com`,
      RegionalDomainName: `${name}.s3.${stack.region}.amazonaws.com`,
    };
    if (await unlessMissing(S3_NOT_FOUND, () => s3.send(new HeadBucketCommand({ Bucket: name })))) {
      return { outcome: 'unchanged', ref: name, attributes };
    }
    const where = `${stack.stackName}/${context.logicalId}`;
    const ownership = properties.optionalObject('OwnershipControls', ['Rules'])?.Rules as
      { ObjectOwnership?: string }[] | undefined;
    await s3.send(
      new CreateBucketCommand({
        Bucket: name,
        ...(stack.region === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: stack.region as BucketLocationConstraint } }),
        ObjectLockEnabledForBucket: properties.optionalBoolean('ObjectLockEnabled'),
        ObjectOwnership: ownership?.[0]?.ObjectOwnership as ObjectOwnership | undefined,
      }),
    );
    const versioning = properties.optionalObject('VersioningConfiguration', ['Status']);
    if (versioning) {
      await s3.send(
        new PutBucketVersioningCommand({
          Bucket: name,
          VersioningConfiguration: {
            Status: expectString(versioning.Status, `${where}.VersioningConfiguration`) as 'Enabled',
          },
        }),
      );
    }
    const lock = properties.optionalObject('ObjectLockConfiguration', ['ObjectLockEnabled', 'Rule']);
    if (lock) {
      const rule = lock.Rule as { DefaultRetention?: Record<string, unknown> } | undefined;
      if (rule) checkKeys(rule, ['DefaultRetention'], `${where}.ObjectLockConfiguration.Rule`);
      const retention = rule?.DefaultRetention;
      if (retention)
        checkKeys(retention, ['Mode', 'Days', 'Years'], `${where}.ObjectLockConfiguration.Rule.DefaultRetention`);
      await s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket: name,
          ObjectLockConfiguration: {
            ObjectLockEnabled: 'Enabled',
            ...(retention
              ? {
                  Rule: {
                    DefaultRetention: {
                      Mode: retention.Mode as 'GOVERNANCE' | 'COMPLIANCE',
                      Days: retention.Days as number | undefined,
                      Years: retention.Years as number | undefined,
                    },
                  },
                }
              : {}),
          },
        }),
      );
    }
    const encryption = properties.optionalObject('BucketEncryption', ['ServerSideEncryptionConfiguration']);
    if (encryption) {
      const rules = (encryption.ServerSideEncryptionConfiguration as Record<string, unknown>[]).map((rule, index) => {
        checkKeys(rule, ['ServerSideEncryptionByDefault', 'BucketKeyEnabled'], `${where}.BucketEncryption[${index}]`);
        const byDefault = rule.ServerSideEncryptionByDefault as Record<string, unknown>;
        checkKeys(byDefault, ['SSEAlgorithm', 'KMSMasterKeyID'], `${where}.BucketEncryption[${index}]`);
        return {
          ApplyServerSideEncryptionByDefault: {
            SSEAlgorithm: byDefault.SSEAlgorithm as 'AES256' | 'aws:kms',
            KMSMasterKeyID: byDefault.KMSMasterKeyID as string | undefined,
          },
          BucketKeyEnabled: rule.BucketKeyEnabled as boolean | undefined,
        } satisfies ServerSideEncryptionRule;
      });
      await s3.send(
        new PutBucketEncryptionCommand({ Bucket: name, ServerSideEncryptionConfiguration: { Rules: rules } }),
      );
    }
    const block = properties.optionalObject('PublicAccessBlockConfiguration', [
      'BlockPublicAcls',
      'BlockPublicPolicy',
      'IgnorePublicAcls',
      'RestrictPublicBuckets',
    ]);
    if (block) {
      await s3.send(
        new PutPublicAccessBlockCommand({
          Bucket: name,
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: block.BlockPublicAcls as boolean | undefined,
            BlockPublicPolicy: block.BlockPublicPolicy as boolean | undefined,
            IgnorePublicAcls: block.IgnorePublicAcls as boolean | undefined,
            RestrictPublicBuckets: block.RestrictPublicBuckets as boolean | undefined,
          },
        }),
      );
    }
    const lifecycle = properties.optionalObject('LifecycleConfiguration', ['Rules']);
    if (lifecycle) {
      const rules = (lifecycle.Rules as Record<string, unknown>[]).map((rule, index): LifecycleRule => {
        checkKeys(
          rule,
          [
            'Id',
            'Status',
            'Prefix',
            'ExpirationInDays',
            'NoncurrentVersionExpiration',
            'AbortIncompleteMultipartUpload',
          ],
          `${where}.LifecycleConfiguration.Rules[${index}]`,
        );
        const noncurrent = rule.NoncurrentVersionExpiration as { NoncurrentDays?: number } | undefined;
        const abort = rule.AbortIncompleteMultipartUpload as { DaysAfterInitiation?: number } | undefined;
        return {
          ID: rule.Id as string | undefined,
          Status: rule.Status as 'Enabled' | 'Disabled',
          Filter: { Prefix: (rule.Prefix as string | undefined) ?? '' },
          ...(rule.ExpirationInDays !== undefined ? { Expiration: { Days: Number(rule.ExpirationInDays) } } : {}),
          ...(noncurrent ? { NoncurrentVersionExpiration: { NoncurrentDays: noncurrent.NoncurrentDays } } : {}),
          ...(abort ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: abort.DaysAfterInitiation } } : {}),
        };
      });
      await s3.send(
        new PutBucketLifecycleConfigurationCommand({ Bucket: name, LifecycleConfiguration: { Rules: rules } }),
      );
    }
    const tags = properties.tags();
    if (tags) await s3.send(new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: tags } }));
    const logging = properties.optionalObject('LoggingConfiguration', ['DestinationBucketName', 'LogFilePrefix']);
    if (logging) {
      const target = expectString(logging.DestinationBucketName, `${where}.LoggingConfiguration.DestinationBucketName`);
      context.later(async () => {
        await s3.send(
          new PutBucketLoggingCommand({
            Bucket: name,
            BucketLoggingStatus: {
              LoggingEnabled: {
                TargetBucket: target,
                TargetPrefix: (logging.LogFilePrefix as string | undefined) ?? '',
              },
            },
          }),
        );
      });
    }
    context.say(`created S3 bucket ${name}`);
    return { outcome: 'created', ref: name, attributes };
  },
};

/**
 * The part of a bucket policy the emulator can be given. moto checks object
 * calls against the bucket policy but evaluates no condition (it supplies
 * no request context, and an unknown condition counts as met), so a
 * conditioned Deny (only over plain HTTP, only for other accounts, all but
 * one role) would refuse every object call of every principal. Those
 * statements are left out locally; test/infra proves them on the templates.
 */
export function emulatedBucketPolicy(policy: Record<string, unknown>): {
  policy?: Record<string, unknown>;
  leftOut: number;
} {
  const statements = Array.isArray(policy.Statement) ? (policy.Statement as Record<string, unknown>[]) : [];
  const kept = statements.filter((statement) => !(statement.Effect === 'Deny' && statement.Condition !== undefined));
  return {
    ...(kept.length > 0 ? { policy: { ...policy, Statement: kept } } : {}),
    leftOut: statements.length - kept.length,
  };
}

const s3BucketPolicy: ResourceHandler = {
  properties: ['Bucket', 'PolicyDocument'],
  attributes: [],
  async apply(properties, context) {
    const { s3 } = context.clients;
    const bucket = properties.string('Bucket');
    const { policy } = emulatedBucketPolicy(properties.document('PolicyDocument'));
    if (!policy) return { outcome: 'unchanged', ref: context.logicalId };
    const current = await unlessMissing(S3_NOT_FOUND, () => s3.send(new GetBucketPolicyCommand({ Bucket: bucket })));
    if (sameDocument(current?.Policy, policy)) return { outcome: 'unchanged', ref: context.logicalId };
    await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    context.say(`set the policy of S3 bucket ${bucket} (its conditioned denials are proven on the templates)`);
    return { outcome: 'written', ref: context.logicalId };
  },
};

// ---------------------------------------------------------------------------
// The drill network: found by name (the VPC's Name tag, the group's and the
// subnet group's names) or, for a subnet, by its VPC and address range.
// ---------------------------------------------------------------------------

/** The Region's Availability Zones, as `Fn::GetAZs` lists them: available ones, by name. */
async function zonesOf(ec2: EC2Client): Promise<string[]> {
  const { AvailabilityZones } = await ec2.send(
    new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'state', Values: ['available'] }] }),
  );
  return (AvailabilityZones ?? []).flatMap((zone) => (zone.ZoneName ? [zone.ZoneName] : [])).sort();
}

/** The `Name` tag of a resource's template tags, which must be a literal to find the resource again. */
function literalName(properties: Readonly<Record<string, unknown>>, where: string): void {
  const tags = Array.isArray(properties.Tags) ? (properties.Tags as unknown[]) : [];
  const name = tags.find((tag) => isRecord(tag) && tag.Key === 'Name');
  if (!isRecord(name) || typeof name.Value !== 'string') {
    throw new UnsupportedTemplateError(
      `${where}: a literal Name tag must be set locally, where a second run finds the resource by it`,
    );
  }
}

const tagSpecification = (resourceType: 'vpc' | 'subnet' | 'security-group', tags: Tag[] | undefined) =>
  tags ? [{ ResourceType: resourceType, Tags: tags }] : undefined;

const ec2Vpc: ResourceHandler = {
  properties: ['CidrBlock', 'EnableDnsSupport', 'EnableDnsHostnames', 'InstanceTenancy', 'Tags'],
  attributes: ['VpcId', 'CidrBlock', 'DefaultSecurityGroup'],
  check: literalName,
  async apply(properties, context) {
    const { ec2 } = context.clients;
    const tags = properties.tags();
    const name = tags?.find((tag) => tag.Key === 'Name')?.Value ?? '';
    const { Vpcs } = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [name] }] }));
    if ((Vpcs ?? []).length > 1) {
      throw new TemplateApplyError(
        `${context.stack.stackName}/${context.logicalId}: ${Vpcs?.length} VPCs are named ${name}; expected one`,
      );
    }
    let vpc = Vpcs?.[0];
    const found = vpc !== undefined;
    if (!vpc) {
      ({ Vpc: vpc } = await ec2.send(
        new CreateVpcCommand({
          CidrBlock: properties.string('CidrBlock'),
          InstanceTenancy: properties.optionalString('InstanceTenancy') as 'default' | undefined,
          TagSpecifications: tagSpecification('vpc', tags),
        }),
      ));
      const vpcId = required(vpc?.VpcId, 'VPC id', context);
      // One attribute per call, as EC2 takes them.
      for (const [attribute, value] of [
        ['EnableDnsSupport', properties.optionalBoolean('EnableDnsSupport')],
        ['EnableDnsHostnames', properties.optionalBoolean('EnableDnsHostnames')],
      ] as const) {
        if (value !== undefined) {
          await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, [attribute]: { Value: value } }));
        }
      }
      context.say(`created VPC ${name}`);
    }
    const vpcId = required(vpc?.VpcId, 'VPC id', context);
    const { SecurityGroups } = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: ['default'] },
        ],
      }),
    );
    return {
      outcome: found ? 'unchanged' : 'created',
      ref: vpcId,
      attributes: {
        VpcId: vpcId,
        CidrBlock: required(vpc?.CidrBlock, 'VPC CIDR block', context),
        ...(SecurityGroups?.[0]?.GroupId ? { DefaultSecurityGroup: SecurityGroups[0].GroupId } : {}),
      },
    };
  },
};

const ec2Subnet: ResourceHandler = {
  properties: ['VpcId', 'CidrBlock', 'AvailabilityZone', 'MapPublicIpOnLaunch', 'Tags'],
  attributes: ['SubnetId', 'AvailabilityZone', 'VpcId', 'CidrBlock'],
  async apply(properties, context) {
    const { ec2 } = context.clients;
    const vpcId = properties.string('VpcId');
    const cidrBlock = properties.string('CidrBlock');
    const { Subnets } = await ec2.send(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'cidr-block', Values: [cidrBlock] },
        ],
      }),
    );
    let subnet = Subnets?.[0];
    const found = subnet !== undefined;
    if (!subnet) {
      ({ Subnet: subnet } = await ec2.send(
        new CreateSubnetCommand({
          VpcId: vpcId,
          CidrBlock: cidrBlock,
          AvailabilityZone: properties.optionalString('AvailabilityZone'),
          TagSpecifications: tagSpecification('subnet', properties.tags()),
        }),
      ));
      const subnetId = required(subnet?.SubnetId, 'subnet id', context);
      if (properties.optionalBoolean('MapPublicIpOnLaunch')) {
        await ec2.send(new ModifySubnetAttributeCommand({ SubnetId: subnetId, MapPublicIpOnLaunch: { Value: true } }));
      }
      context.say(`created subnet ${cidrBlock} in ${subnet?.AvailabilityZone} of VPC ${vpcId}`);
    }
    const subnetId = required(subnet?.SubnetId, 'subnet id', context);
    return {
      outcome: found ? 'unchanged' : 'created',
      ref: subnetId,
      attributes: {
        SubnetId: subnetId,
        AvailabilityZone: required(subnet?.AvailabilityZone, 'subnet zone', context),
        VpcId: vpcId,
        CidrBlock: cidrBlock,
      },
    };
  },
};

const SECURITY_GROUP_RULE_KEYS = ['IpProtocol', 'FromPort', 'ToPort', 'CidrIp', 'CidrIpv6', 'Description'];

/** A template's security group rules as EC2 permissions; any other kind of rule (another group) is unsupported. */
function permissionsOf(properties: Properties, name: string): IpPermission[] | undefined {
  return properties.optionalRecords(name)?.map((rule, index) => {
    checkKeys(rule, SECURITY_GROUP_RULE_KEYS, `${name}[${index}]`);
    const description = rule.Description as string | undefined;
    return {
      IpProtocol: expectString(rule.IpProtocol, `${name}[${index}].IpProtocol`),
      ...(rule.FromPort !== undefined ? { FromPort: Number(rule.FromPort) } : {}),
      ...(rule.ToPort !== undefined ? { ToPort: Number(rule.ToPort) } : {}),
      ...(rule.CidrIp !== undefined ? { IpRanges: [{ CidrIp: String(rule.CidrIp), Description: description }] } : {}),
      ...(rule.CidrIpv6 !== undefined
        ? { Ipv6Ranges: [{ CidrIpv6: String(rule.CidrIpv6), Description: description }] }
        : {}),
    };
  });
}

/**
 * A security group of a VPC, with the template's rules in place of EC2's
 * default ones: a group whose template names egress rules loses the
 * allow-all egress EC2 gives every new group, as CloudFormation does.
 */
const ec2SecurityGroup: ResourceHandler = {
  properties: ['GroupName', 'GroupDescription', 'VpcId', 'SecurityGroupEgress', 'SecurityGroupIngress', 'Tags'],
  required: ['GroupName', 'VpcId'],
  attributes: ['GroupId', 'VpcId'],
  async apply(properties, context) {
    const { ec2 } = context.clients;
    const name = properties.string('GroupName');
    const vpcId = properties.string('VpcId');
    const egress = permissionsOf(properties, 'SecurityGroupEgress');
    const ingress = permissionsOf(properties, 'SecurityGroupIngress');
    const { SecurityGroups } = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: [name] },
        ],
      }),
    );
    const existing = SecurityGroups?.[0]?.GroupId;
    if (existing) return { outcome: 'unchanged', ref: existing, attributes: { GroupId: existing, VpcId: vpcId } };
    const { GroupId } = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: properties.string('GroupDescription'),
        VpcId: vpcId,
        TagSpecifications: tagSpecification('security-group', properties.tags()),
      }),
    );
    const groupId = required(GroupId, 'security group id', context);
    if (egress) {
      await ec2.send(
        new RevokeSecurityGroupEgressCommand({
          GroupId: groupId,
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
      );
      if (egress.length > 0) {
        await ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: egress }));
      }
    }
    if (ingress && ingress.length > 0) {
      await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: ingress }));
    }
    context.say(`created security group ${name} in VPC ${vpcId}`);
    return { outcome: 'created', ref: groupId, attributes: { GroupId: groupId, VpcId: vpcId } };
  },
};

const RDS_NOT_FOUND = ['DBSubnetGroupNotFoundFault', 'DBSubnetGroupNotFound'];

const rdsDbSubnetGroup: ResourceHandler = {
  properties: ['DBSubnetGroupName', 'DBSubnetGroupDescription', 'SubnetIds', 'Tags'],
  required: ['DBSubnetGroupName'],
  attributes: [],
  async apply(properties, context) {
    const { rds } = context.clients;
    const name = properties.string('DBSubnetGroupName');
    const existing = await unlessMissing(RDS_NOT_FOUND, () =>
      rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: name })),
    );
    if (existing?.DBSubnetGroups?.length) return { outcome: 'unchanged', ref: name };
    await rds.send(
      new CreateDBSubnetGroupCommand({
        DBSubnetGroupName: name,
        DBSubnetGroupDescription: properties.string('DBSubnetGroupDescription'),
        SubnetIds: properties.strings('SubnetIds'),
        Tags: properties.tags(),
      }),
    );
    context.say(`created DB subnet group ${name}`);
    return { outcome: 'created', ref: name };
  },
};

function handlersFor(template: CfnTemplate): Readonly<Record<string, ResourceHandler>> {
  return {
    'AWS::KMS::Key': kmsKey(template),
    'AWS::KMS::Alias': kmsAlias,
    'AWS::SNS::Topic': snsTopic,
    'AWS::SNS::TopicPolicy': snsTopicPolicy,
    'AWS::SNS::Subscription': snsSubscription,
    'AWS::SQS::Queue': sqsQueue,
    'AWS::SQS::QueuePolicy': sqsQueuePolicy,
    'AWS::DynamoDB::Table': dynamodbTable,
    'AWS::IAM::Role': iamRole,
    'AWS::IAM::Policy': iamPolicy,
    'AWS::S3::Bucket': s3Bucket,
    'AWS::S3::BucketPolicy': s3BucketPolicy,
    'AWS::EC2::VPC': ec2Vpc,
    'AWS::EC2::Subnet': ec2Subnet,
    'AWS::EC2::SecurityGroup': ec2SecurityGroup,
    'AWS::RDS::DBSubnetGroup': rdsDbSubnetGroup,
  };
}

// ---------------------------------------------------------------------------
// Planning and applying a stack
// ---------------------------------------------------------------------------

/** What {@link planStack} decided. */
export interface StackPlan {
  /** Logical ids of the resources to apply, each after everything it refers to or depends on. */
  readonly order: readonly string[];
  /** Logical ids of the resources of {@link SKIPPED_TYPES}. */
  readonly skipped: readonly string[];
}

const dependsOnOf = (resource: CfnResource): string[] =>
  resource.DependsOn === undefined
    ? []
    : typeof resource.DependsOn === 'string'
      ? [resource.DependsOn]
      : [...resource.DependsOn];

/**
 * Checks that every resource of `template` is either applied or skipped, that
 * applied ones use only supported properties, intrinsic functions and
 * references, and orders them by their references and `DependsOn`.
 *
 * @throws UnsupportedTemplateError on anything the applier would not create faithfully
 * @throws CrossStackReferenceError on `Fn::ImportValue`
 */
export function planStack(template: CfnTemplate, stackName = 'template'): StackPlan {
  if (template.Transform !== undefined) {
    throw new UnsupportedTemplateError(`${stackName}: template transforms (macros) are not supported locally`);
  }
  const resources = template.Resources ?? {};
  const handlers = handlersFor(template);
  const parameters = template.Parameters ?? {};
  const ids = Object.keys(resources);
  const skipped = ids.filter((id) => skipReason(resources[id].Type, resources[id]) !== undefined);
  const dependencies = new Map<string, Set<string>>();

  for (const id of ids) {
    const resource = resources[id];
    const where = `${stackName}/${id}`;
    const handler = handlers[resource.Type];
    const isSkipped = skipReason(resource.Type, resource) !== undefined;
    if (!handler && !isSkipped) {
      throw new UnsupportedTemplateError(
        `${where}: the local applier does not know ${resource.Type}; teach cli/local/template-applier.ts to create it, or list it as skipped with the reason`,
      );
    }
    if (handler) {
      if (resource.Condition !== undefined) {
        throw new UnsupportedTemplateError(
          `${where}: Condition ${resource.Condition}: template conditions are not evaluated locally`,
        );
      }
      checkKeys(
        resource.Properties ?? {},
        [...handler.properties, ...(handler.ignored ?? [])],
        `${where} (${resource.Type})`,
      );
      const missing = (handler.required ?? []).filter((name) => resource.Properties?.[name] === undefined);
      if (missing.length > 0) {
        throw new UnsupportedTemplateError(
          `${where} (${resource.Type}): ${missing.join(', ')} must be set locally, where a second run finds the resource by its name`,
        );
      }
      handler.check?.(resource.Properties ?? {}, `${where} (${resource.Type})`);
      if (resource.Type === 'AWS::KMS::Key' && !hasAlias(template, id)) {
        throw new UnsupportedTemplateError(
          `${where}: a KMS key needs an AWS::KMS::Alias in its template, by which a second run finds it`,
        );
      }
    }
    const references = referencesOf(resource.Properties ?? {}, `${where}.Properties`, handler !== undefined);
    const needs = new Set<string>();
    for (const reference of references) {
      const target = resources[reference.logicalId];
      if (!target) {
        if (!handler) continue;
        if (reference.logicalId in parameters) {
          throw new UnsupportedTemplateError(
            `${where}: refers to parameter ${reference.logicalId}; the local applier takes no parameters`,
          );
        }
        throw new UnsupportedTemplateError(`${where}: refers to ${reference.logicalId}, which is not in the template`);
      }
      if (handler && skipReason(target.Type, target) !== undefined) {
        const standIn = STAND_INS[target.Type];
        if (!standIn || (reference.attribute !== undefined && !standIn.attributes.includes(reference.attribute))) {
          throw new UnsupportedTemplateError(
            `${where}: refers to ${reference.logicalId}${reference.attribute ? `.${reference.attribute}` : ''}, a ${target.Type}, which is not created locally and has no local stand-in`,
          );
        }
        continue;
      }
      const targetHandler = handlers[target.Type];
      if (
        handler &&
        targetHandler &&
        reference.attribute !== undefined &&
        !targetHandler.attributes.includes(reference.attribute)
      ) {
        throw new UnsupportedTemplateError(
          `${where}: ${target.Type} ${reference.logicalId} has no attribute ${reference.attribute} locally`,
        );
      }
      needs.add(reference.logicalId);
    }
    for (const dependency of dependsOnOf(resource)) {
      if (!resources[dependency]) {
        throw new UnsupportedTemplateError(`${where}: DependsOn ${dependency}, which is not in the template`);
      }
      needs.add(dependency);
    }
    dependencies.set(id, needs);
  }

  // Over every resource, so an order through a skipped one is kept too; the
  // first ready resource in template order goes next, so related resources
  // stay together in the progress lines as they are in the template.
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < ids.length) {
    const next = ids.find((id) => !done.has(id) && [...(dependencies.get(id) ?? [])].every((d) => done.has(d)));
    if (next === undefined) {
      const cycle = ids.filter((id) => !done.has(id));
      throw new UnsupportedTemplateError(`${stackName}: circular references among ${cycle.join(', ')}`);
    }
    done.add(next);
    order.push(next);
  }
  const skippedSet = new Set(skipped);
  return { order: order.filter((id) => !skippedSet.has(id)), skipped };
}

/** How {@link applyStack} reaches the emulator. */
export interface ApplyOptions {
  /** Endpoint and credentials to act in `account` and `region`. */
  contextFor(account: string, region: string): Promise<AwsContext>;
  /** Receives one line per resource created or changed, and a summary. */
  readonly progress?: (line: string) => void;
}

/**
 * Creates on the emulator what `stack`'s template creates, in its account
 * and Region, and finds what exists. Nothing is called when the template
 * uses something unsupported (see {@link planStack}).
 */
export async function applyStack(stack: StackTemplate, options: ApplyOptions): Promise<AppliedStack> {
  const { template } = stack;
  const plan = planStack(template, stack.stackName);
  const say = (line: string) => options.progress?.(`  ${line}`);
  const handlers = handlersFor(template);
  const context = await options.contextFor(stack.account, stack.region);
  const clients: StackClients = {
    s3: new S3Client({ ...clientConfig(context), forcePathStyle: true }),
    kms: new KMSClient(clientConfig(context)),
    sns: new SNSClient(clientConfig(context)),
    sqs: new SQSClient(clientConfig(context)),
    dynamodb: new DynamoDBClient(clientConfig(context)),
    // IAM is global; its requests are signed for us-east-1 whatever the stack's Region.
    iam: new IAMClient(clientConfig(context, 'us-east-1')),
    ec2: new EC2Client(clientConfig(context)),
    rds: new RDSClient(clientConfig(context)),
  };
  const applied = new Map<string, AppliedResource>();
  const pseudo = pseudoParameters(stack.stackName, stack.account, stack.region);
  const standIn = (logicalId: string, attribute?: string): string | undefined => {
    const resource = template.Resources[logicalId];
    const stand = resource && skipReason(resource.Type, resource) !== undefined ? STAND_INS[resource.Type] : undefined;
    return stand?.value(stack, logicalId, resource.Properties ?? {}, attribute);
  };
  // Only a template that asks for them (the drill subnets) costs the call.
  const availabilityZones = JSON.stringify(template.Resources).includes('"Fn::GetAZs"')
    ? await zonesOf(clients.ec2)
    : undefined;
  const scope: IntrinsicScope = {
    pseudo,
    availabilityZones,
    ref(logicalId) {
      const value = applied.get(logicalId)?.ref ?? standIn(logicalId);
      if (value === undefined) throw new TemplateApplyError(`${stack.stackName}: ${logicalId} is not applied yet`);
      return value;
    },
    getAtt(logicalId, attribute) {
      const value = applied.get(logicalId)?.attributes[attribute] ?? standIn(logicalId, attribute);
      if (value === undefined) {
        throw new TemplateApplyError(`${stack.stackName}: ${logicalId} has no ${attribute} on the emulator`);
      }
      return value;
    },
  };
  const { partition } = partitionOf(stack.region);
  const deferred: (() => Promise<void>)[] = [];
  try {
    for (const logicalId of plan.order) {
      const resource = template.Resources[logicalId];
      const where = `${stack.stackName}/${logicalId}`;
      const properties = resolveIntrinsics(resource.Properties ?? {}, scope, where) as Record<string, unknown>;
      const result = await handlers[resource.Type].apply(new Properties(properties, where), {
        stack,
        logicalId,
        partition,
        clients,
        resolve: (value, at) => resolveIntrinsics(value, scope, `${stack.stackName}/${at}`),
        say,
        later: (step) => deferred.push(step),
      });
      applied.set(logicalId, {
        logicalId,
        type: resource.Type,
        outcome: result.outcome,
        ref: result.ref,
        attributes: result.attributes ?? {},
        properties,
      });
    }
    for (const step of deferred) await step();
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }
  const resources = [...applied.values()];
  const count = (outcome: ApplyOutcome) => resources.filter((r) => r.outcome === outcome).length;
  say(
    `${count('created')} created, ${count('written')} policy document(s) written, ${count('unchanged')} already as in the template; ` +
      `${plan.skipped.length} not emulated (${[...new Set(plan.skipped.map((id) => template.Resources[id].Type))].join(', ') || 'none'})`,
  );
  return { stackName: stack.stackName, account: stack.account, region: stack.region, resources, skipped: plan.skipped };
}
