/**
 * `bunker local up`: creates on the emulator what the vault and source
 * stacks create in AWS. The CDK app is synthesized in-process and each
 * stack's template is applied to its account and Region by
 * ./template-applier, so the emulator holds the keys, policies, topics,
 * queues, table and roles the templates describe, not a second copy of them
 * written by hand. Idempotent: running it again finds what exists, creates
 * only what is missing, and rewrites a policy document that differs from the
 * template (an emulator set up by an older Bunker gets the current policies).
 *
 * The emulator stores resource policies but does not enforce them (see
 * docs/architecture.md); they are written anyway so the emulator's state
 * reads like the real accounts, and the synthesized templates' tests are
 * where the policies are proven.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack, Token } from 'aws-cdk-lib';
import { BUNDLING_STACKS, CDK_APP_MODE_CONTEXT } from 'aws-cdk-lib/cx-api';
import { BunkerError } from '../../lambdas/core/errors';
import { intakeTopicName, sourceNames, vaultBucketName, vaultNames } from '../../lambdas/core/names';
import { buildApp } from '../../lib/app';
import { enabledPulledKinds } from '../../lib/config/runtime';
import type { BunkerConfig } from '../../lib/config/schema';
import { localContext } from './accounts';
import { type AppliedStack, applyStack, type CfnTemplate, findApplied, type StackTemplate } from './template-applier';

/** The role the local mode acts as in each account (the vault and agent Lambdas' roles in AWS). */
export const LOCAL_OPERATOR_ROLE = 'bunker-local-operator';

/** One source stack as `local up` left it: the account, the Region and its share key. */
export interface LocalSource {
  readonly account: string;
  readonly region: string;
  readonly shareKeyArn: string;
}

/** What `local up` created (or found) that `local run`, the demo and the tests work with. */
export interface LocalEnvironment {
  readonly endpoint: string;
  readonly backupKeyArn: string;
  readonly intakeKeyArn: string;
  /** The intake topic of each source account, by account id. */
  readonly topicArns: Readonly<Record<string, string>>;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  readonly sources: readonly LocalSource[];
  /** Pulled backups, when a pulled kind is enabled: the vault bucket and the pull queues. */
  readonly pull?: { readonly vaultBucket: string; readonly queueUrl: string; readonly deadLetterQueueUrl: string };
}

type Progress = (line: string) => void;

/** The synthesized stacks don't say what `local up` needs, or a stack has no concrete account or Region. */
export class LocalStacksError extends BunkerError {}

/** The templates of Bunker's stacks, as {@link synthesizeStacks} made them. */
export interface LocalStacks {
  readonly vault: StackTemplate;
  /** In configuration order: each source account, each of its Regions. */
  readonly sources: readonly StackTemplate[];
  /** The backup account's second Region, when `backup.secondRegion` is set. */
  readonly vaultRegion?: StackTemplate;
  /** How long building and synthesizing the app took. */
  readonly seconds: number;
}

/**
 * Synthesizes the CDK app of `config` in-process, as `cdk synth` would, and
 * returns every stack's template.
 *
 * Two things of a deployment's synth are left out, because the templates
 * come out the same without them and `local up` stays fast and offline:
 * Lambda bundling (the code is not deployed locally; `local run` imports the
 * handlers) and CDK's built-in CloudFormation schema validation (seconds of
 * WebAssembly per run; the applier checks every type and property it
 * creates, and `cdk synth` and test/infra still validate). cdk-nag runs, as
 * {@link buildApp} registers it.
 */
export function synthesizeStacks(config: BunkerConfig): LocalStacks {
  const started = performance.now();
  const outdir = mkdtempSync(join(tmpdir(), 'bunker-local-synth-'));
  try {
    const app = new App({
      outdir,
      builtinCloudFormationValidation: false,
      context: {
        [BUNDLING_STACKS]: [],
        // A cdk-nag finding then throws with its report, instead of only
        // setting the exit code when CDK_APP_MODE says a CDK CLI runs the app.
        [CDK_APP_MODE_CONTEXT]: 'inmemory',
      },
    });
    const built = buildApp(config, app);
    const assembly = app.synth();
    const templateOf = (stack: Stack): StackTemplate => {
      if (Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)) {
        throw new LocalStacksError(`${stack.stackName} has no concrete account and Region to apply it to`);
      }
      return {
        stackName: stack.stackName,
        account: stack.account,
        region: stack.region,
        template: assembly.getStackArtifact(stack.artifactId).template as CfnTemplate,
      };
    };
    const vault = templateOf(built.vault);
    const sources = built.sources.map(templateOf);
    const vaultRegion = built.vaultRegion ? templateOf(built.vaultRegion) : undefined;
    return { vault, sources, ...(vaultRegion ? { vaultRegion } : {}), seconds: (performance.now() - started) / 1000 };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Local visibility timeout of the intake queue, in seconds. */
const LOCAL_INTAKE_VISIBILITY_SECONDS = 1;

/**
 * The vault template with the one change the local mode makes: the intake
 * queue's visibility timeout is 1 s instead of six times the intake Lambda's
 * timeout, so a message the intake handler failed comes back within the same
 * `bunker local run` instead of minutes later.
 */
function withLocalIntakeQueue(vault: StackTemplate, queueName: string): StackTemplate {
  const resources = { ...vault.template.Resources };
  const queues = Object.entries(resources).filter(
    ([, resource]) => resource.Type === 'AWS::SQS::Queue' && resource.Properties?.QueueName === queueName,
  );
  if (queues.length !== 1) {
    throw new LocalStacksError(`${vault.stackName}: expected one SQS queue named ${queueName}, found ${queues.length}`);
  }
  const [[id, queue]] = queues;
  resources[id] = {
    ...queue,
    Properties: { ...queue.Properties, VisibilityTimeout: LOCAL_INTAKE_VISIBILITY_SECONDS },
  };
  return { ...vault, template: { ...vault.template, Resources: resources } };
}

/** The ARN of the key behind `alias` in an applied stack. */
function keyArnByAlias(stack: AppliedStack, alias: string): string {
  const target = findApplied(stack, 'AWS::KMS::Alias', 'AliasName', alias).properties.TargetKeyId;
  const key = stack.resources.find(
    (r) => r.type === 'AWS::KMS::Key' && (r.attributes.Arn === target || r.attributes.KeyId === target),
  );
  if (!key) throw new LocalStacksError(`${stack.stackName}: ${alias} points at no key of the stack`);
  return key.attributes.Arn;
}

/**
 * Creates (or finds) the vault and every source stack's resources on the
 * emulator, each in its account and Region, acting as
 * {@link LOCAL_OPERATOR_ROLE} there.
 */
export async function localUp(
  config: BunkerConfig,
  endpoint: string,
  progress: Progress = () => {},
): Promise<LocalEnvironment> {
  const stacks = synthesizeStacks(config);
  const count = 1 + stacks.sources.length + (stacks.vaultRegion ? 1 : 0);
  progress(`synthesized ${count} stack(s) in ${stacks.seconds.toFixed(1)} s`);
  const options = {
    contextFor: (account: string, region: string) => localContext(endpoint, account, region, LOCAL_OPERATOR_ROLE),
    progress,
  };
  const names = vaultNames(config.name);

  progress(`vault: backup account ${config.backup.account} in ${config.backup.region}`);
  const vault = await applyStack(withLocalIntakeQueue(stacks.vault, names.intakeQueue), options);
  if (stacks.vaultRegion) {
    progress(`vault: backup account ${config.backup.account} in ${stacks.vaultRegion.region} (second Region)`);
    await applyStack(stacks.vaultRegion, options);
  }

  const sources: LocalSource[] = [];
  for (const stack of stacks.sources) {
    const source = config.sources.find((candidate) => candidate.account === stack.account);
    progress(`source: account ${stack.account}${source?.name ? ` (${source.name})` : ''} in ${stack.region}`);
    const applied = await applyStack(stack, options);
    sources.push({
      account: stack.account,
      region: stack.region,
      shareKeyArn: keyArnByAlias(applied, sourceNames(config.name, stack.region).shareKeyAlias),
    });
  }

  const queueUrl = (name: string) => findApplied(vault, 'AWS::SQS::Queue', 'QueueName', name).ref;
  return {
    endpoint,
    backupKeyArn: keyArnByAlias(vault, names.backupKeyAlias),
    intakeKeyArn: keyArnByAlias(vault, names.intakeKeyAlias),
    topicArns: Object.fromEntries(
      config.sources.map((source) => [
        source.account,
        findApplied(vault, 'AWS::SNS::Topic', 'TopicName', intakeTopicName(config.name, source.account)).ref,
      ]),
    ),
    queueUrl: queueUrl(names.intakeQueue),
    deadLetterQueueUrl: queueUrl(names.intakeDeadLetterQueue),
    tableName: findApplied(vault, 'AWS::DynamoDB::Table', 'TableName', names.inventoryTable).ref,
    sources,
    ...(enabledPulledKinds(config).length > 0
      ? {
          pull: {
            vaultBucket: findApplied(
              vault,
              'AWS::S3::Bucket',
              'BucketName',
              vaultBucketName(config.name, config.backup.account, config.backup.region),
            ).ref,
            queueUrl: queueUrl(names.pullQueue),
            deadLetterQueueUrl: queueUrl(names.pullDeadLetterQueue),
          },
        }
      : {}),
  };
}
