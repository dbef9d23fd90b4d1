/**
 * The one way Bunker makes a Lambda function, so every function runs on the
 * same runtime, architecture, logging and tracing, and its role carries only
 * what the stack grants it.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BUNKER_ESBUILD, type BunkerHandlerName, bundleDefines } from '../bundling';
import { acknowledge, NAG_PACK, wildcardFindings } from './nag';

/** The repository root, found from this module so synth works from any working directory. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type { BunkerHandlerName } from '../bundling';

/**
 * How every Bunker function is bundled (the shared options of
 * `lib/bundling.ts`, in NodejsFunction's words); exported so the bundle
 * test builds exactly what CDK deploys. Each function adds the `define`s
 * its settings call for ({@link bundleDefines}).
 */
export const BUNKER_BUNDLING: BundlingOptions = {
  externalModules: [...BUNKER_ESBUILD.external],
  minify: BUNKER_ESBUILD.minify,
  keepNames: BUNKER_ESBUILD.keepNames,
  sourceMap: BUNKER_ESBUILD.sourcemap,
  sourcesContent: BUNKER_ESBUILD.sourcesContent,
  target: BUNKER_ESBUILD.target,
  format: OutputFormat.ESM,
  mainFields: [...BUNKER_ESBUILD.mainFields],
  banner: BUNKER_ESBUILD.banner.js,
  // No Docker on the build machines: esbuild from node_modules bundles.
  forceDockerBundling: false,
};

/** The newest Node.js runtime this aws-cdk-lib offers; cdk-nag (AwsSolutions-L1) flags any older one. */
export const BUNKER_RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface BunkerFunctionProps {
  /** Which handler to bundle: `lambdas/handlers/<handler>.ts`, exporting `handler`. */
  readonly handler: BunkerHandlerName;
  /**
   * Physical name of the execution role. Set it when another account or a
   * policy must name the role before it exists (the reader role trusts the
   * vault roles by ARN).
   * @default - a generated name
   */
  readonly roleName?: string;
  /**
   * An execution role made elsewhere (the retention role, which the vault
   * bucket's policy names); `roleName` is then ignored.
   * @default - a new role
   */
  readonly role?: iam.Role;
  /** What the function does, shown in the console. */
  readonly description: string;
  /**
   * Environment variables, merged over Bunker's defaults (`NODE_OPTIONS`,
   * `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`); a key given here wins.
   * @default - the defaults only
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Memory in MiB.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Longest run of one invocation.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A `NodejsFunction` on ARM64 and the newest Node.js runtime, with its own
 * log group, X-Ray tracing, source maps and an execution role that starts
 * empty: no managed policy, only log writes and what callers grant.
 */
export class BunkerFunction extends Construct {
  /** The function itself. */
  public readonly lambda: NodejsFunction;
  /** Its execution role; grant to this (or to `lambda`). */
  public readonly role: iam.Role;
  /** Where it logs. */
  public readonly logGroup: logs.LogGroup;
  /** The function's timeout, for the queue visibility timeout of an event source. */
  public readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: BunkerFunctionProps) {
    super(scope, id);
    this.timeout = props.timeout ?? Duration.seconds(60);
    if (this.timeout.toSeconds() > 900) {
      throw new Error(`${this.node.path}: a Lambda timeout cannot exceed 15 minutes`);
    }

    // An explicit role instead of the default one: the default attaches the
    // AWSLambdaBasicExecutionRole managed policy (AwsSolutions-IAM4) and
    // cannot carry a fixed name.
    this.role =
      props.role ??
      new iam.Role(this, 'Role', {
        roleName: props.roleName,
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Execution role of ${props.handler}`,
      });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      // Logs are the audit trail of what was copied and deleted: keep them
      // when the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.logGroup.grantWrite(this.role);

    this.lambda = new NodejsFunction(this, 'Function', {
      entry: join(REPO_ROOT, 'lambdas', 'handlers', `${props.handler}.ts`),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: BUNKER_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: this.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.handler,
        POWERTOOLS_METRICS_NAMESPACE: 'Bunker',
        ...props.environment,
      },
      bundling: this.bundling(props),
    });

    this.acknowledgeWildcards(
      { resources: ['*'] },
      'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions.',
    );
  }

  /** {@link BUNKER_BUNDLING}, leaving out what this function's settings say it never runs. */
  private bundling(props: BunkerFunctionProps): BundlingOptions {
    const define = bundleDefines(props.handler, props.environment);
    return Object.keys(define).length > 0 ? { ...BUNKER_BUNDLING, define } : BUNKER_BUNDLING;
  }

  /**
   * Adds a statement to the execution role. A statement with a wildcard in
   * an action or resource must say why, and the reason becomes the cdk-nag
   * acknowledgement of exactly those wildcards on this role's policy.
   */
  public allow(statement: iam.PolicyStatementProps, wildcardReason?: string): void {
    const added = new iam.PolicyStatement(statement);
    this.role.addToPrincipalPolicy(added);
    const findings = wildcardFindings(this, statement.actions ?? [], statement.resources ?? []);
    if (findings.length === 0) return;
    if (!wildcardReason) {
      throw new Error(`${this.node.path}: a statement with ${findings.join(', ')} needs a reason for the wildcard`);
    }
    this.acknowledgeWildcards({ actions: statement.actions, resources: statement.resources }, wildcardReason);
  }

  /**
   * Acknowledges the IAM5 findings of wildcards that a grant method put on
   * this role's policy (`kms:GenerateDataKey*`, `<table>/index/*`), with the
   * reason they are needed.
   */
  public acknowledgeWildcards(
    wildcards: { readonly actions?: readonly string[]; readonly resources?: readonly string[] },
    reason: string,
  ): void {
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (!policy) throw new Error(`${this.node.path}: nothing granted yet, so nothing to acknowledge`);
    for (const finding of wildcardFindings(this, wildcards.actions ?? [], wildcards.resources ?? [])) {
      acknowledge(policy, `${NAG_PACK}-IAM5[${finding}]`, reason);
    }
  }
}
