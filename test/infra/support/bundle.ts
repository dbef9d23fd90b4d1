/**
 * Helpers to build the Lambda artifacts of the four handlers and run them
 * in this process the way Lambda runs them: a fresh module per cold start,
 * settings and credentials only through environment variables, and the
 * exported `handler` called with the events AWS delivers.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { types } from 'node:util';
import type { Message } from '@aws-sdk/client-sqs';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { Context, SQSEvent } from 'aws-lambda';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { BUNKER_BUNDLING, type BunkerHandlerName, REPO_ROOT } from '../../../lib/constructs/bunker-function';

export const BUNKER_HANDLERS = [
  'intake',
  'completion',
  'sweep',
  'source-agent',
  'pull',
] as const satisfies readonly BunkerHandlerName[];

/** NodejsFunction names the output after the format: `index.mjs` for ESM. */
export const BUNDLE_FILE = 'index.mjs';

/**
 * The esbuild options NodejsFunction derives from BunkerFunction's
 * `bundling` props (aws-cdk-lib's `Bundling.buildEsbuildArgs`, run with the
 * repository root as working directory).
 *
 * MIRRORED, NOT IMPORTED: lib/constructs/bunker-function.ts does not export
 * its bundling options, so these must stay in step with it by hand. The
 * test "bundles byte for byte what BunkerFunction bundles" fails when they
 * drift. Exporting them from the construct (one `BundlingOptions` constant
 * that BunkerFunction passes as `bundling`) would let this read them instead.
 */
export function bunkerEsbuildOptions(handler: BunkerHandlerName, outdir: string): BuildOptions {
  // Derived from the construct's own options, so the test builds what CDK deploys.
  const b = BUNKER_BUNDLING;
  return {
    entryPoints: [`lambdas/handlers/${handler}.ts`],
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'node',
    target: b.target,
    format: b.format === OutputFormat.ESM ? 'esm' : 'cjs',
    outfile: join(outdir, BUNDLE_FILE),
    external: b.externalModules,
    minify: b.minify,
    keepNames: b.keepNames,
    sourcemap: b.sourceMap,
    sourcesContent: b.sourcesContent,
    mainFields: b.mainFields,
    banner: b.banner ? { js: b.banner } : undefined,
    // Not a bundling option: only tells the test what the bundle imports.
    metafile: true,
    logLevel: 'silent',
  };
}

export interface BuiltBundle {
  readonly handler: BunkerHandlerName;
  /** Absolute path of `index.mjs`. */
  readonly file: string;
  /** What the bundle still imports at run time (everything else is inside it). */
  readonly imports: readonly string[];
  readonly warnings: number;
}

/** Bundles every handler into `<root>/<handler>/index.mjs`, in parallel. */
export async function bundleHandlers(root: string): Promise<Map<BunkerHandlerName, BuiltBundle>> {
  const built = await Promise.all(
    BUNKER_HANDLERS.map(async (handler): Promise<BuiltBundle> => {
      const outdir = join(root, handler);
      const result = await build(bunkerEsbuildOptions(handler, outdir));
      return {
        handler,
        file: join(outdir, BUNDLE_FILE),
        imports: runtimeImports(result.metafile),
        warnings: result.warnings.length,
      };
    }),
  );
  return new Map(built.map((b) => [b.handler, b]));
}

function runtimeImports(metafile: Metafile | undefined): string[] {
  if (!metafile) throw new Error('esbuild returned no metafile');
  return Object.values(metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
}

type LoadedModule = Record<string, unknown>;

// vitest transforms (inlines) any .mjs outside node_modules and rewrites the
// test file's own import(). A module loaded from a data: URL is left to Node,
// so its import() is Node's: the bundle runs untransformed, as in Lambda.
const NATIVE_LOADER = 'data:text/javascript,export default (url) => import(url);';
let loader: Promise<(url: string) => Promise<LoadedModule>> | undefined;
async function nativeImport(url: string): Promise<LoadedModule> {
  loader ??= import(NATIVE_LOADER).then((m: { default: (url: string) => Promise<LoadedModule> }) => m.default);
  return (await loader)(url);
}

/** A Lambda handler as the bundle exports it. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

let coldStarts = 0;

/**
 * A cold start: imports the bundle as a fresh module (its module-scope
 * wiring starts empty) with Node's own loader, and returns its `handler`.
 */
export async function coldStart(file: string): Promise<LambdaHandler> {
  coldStarts += 1;
  const module = await nativeImport(`${pathToFileURL(file).href}?cold-start=${coldStarts}`);
  if (!types.isModuleNamespaceObject(module)) throw new Error(`${file} was not loaded as a native ES module`);
  if (typeof module.handler !== 'function') throw new Error(`${file} exports no handler function`);
  return module.handler as LambdaHandler;
}

/** Variables the test process may carry that must not reach a Lambda (credentials, profiles, endpoints, settings). */
const LAMBDA_CONTROLLED = /^(AWS_|BUNKER_|POWERTOOLS_)/;
/** Kept: only silences the SDK's notice about this test runner's Node.js version. */
const KEPT = new Set(['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']);

/**
 * Runs `work` with exactly `vars` as the AWS, Bunker and Powertools part of
 * the environment, then restores `process.env` as it was.
 */
export async function withEnvironment<T>(vars: Readonly<Record<string, string>>, work: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) {
    if (LAMBDA_CONTROLLED.test(key) && !KEPT.has(key)) delete process.env[key];
  }
  Object.assign(process.env, vars);
  try {
    return await work();
  } finally {
    for (const key of Object.keys(process.env)) {
      if (!(key in saved)) delete process.env[key];
    }
    Object.assign(process.env, saved);
  }
}

export interface LambdaEnvironment {
  /** The function's own variables, as the stack sets them (the settings). */
  readonly settings: Readonly<Record<string, string>>;
  /** BunkerFunction's `POWERTOOLS_SERVICE_NAME`. */
  readonly serviceName: string;
  /** The execution role's session, as Lambda exports it. */
  readonly credentials: AwsCredentialIdentity;
  readonly region: string;
  /** The emulator, through the SDK's standard variable: nothing in Bunker's code knows it. */
  readonly endpoint: string;
}

/** The environment Lambda would give the function, pointed at the emulator. */
export function lambdaEnvironment(e: LambdaEnvironment): Record<string, string> {
  return {
    // BunkerFunction's defaults (NODE_OPTIONS has no meaning in-process).
    POWERTOOLS_SERVICE_NAME: e.serviceName,
    POWERTOOLS_METRICS_NAMESPACE: 'Bunker',
    ...e.settings,
    // What the Lambda runtime sets.
    AWS_REGION: e.region,
    AWS_DEFAULT_REGION: e.region,
    AWS_ACCESS_KEY_ID: e.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: e.credentials.secretAccessKey,
    ...(e.credentials.sessionToken ? { AWS_SESSION_TOKEN: e.credentials.sessionToken } : {}),
    AWS_ENDPOINT_URL: e.endpoint,
  };
}

/** A cold start and one invocation under `env`, as one Lambda container would run it. */
export async function invokeCold(
  file: string,
  env: Readonly<Record<string, string>>,
  event: unknown,
  functionName: string,
): Promise<unknown> {
  return withEnvironment(env, async () => {
    const handler = await coldStart(file);
    return handler(event, lambdaContext(functionName, env.AWS_REGION ?? 'eu-west-1'));
  });
}

export function lambdaContext(functionName: string, region: string): Context {
  const fail = () => {
    throw new Error('legacy callbacks are not used by Bunker handlers');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2025/01/01/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => 60_000,
    done: fail,
    fail,
    succeed: fail,
  };
}

/** An EventBridge event as AWS delivers it to a rule's target. */
export function eventBridgeEvent(
  detailType: string,
  source: string,
  account: string,
  region: string,
  detail: object,
  resources: string[] = [],
) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source,
    account,
    time: new Date().toISOString(),
    region,
    resources,
    detail,
  };
}

/** The SQS event Lambda's event source mapping builds from received messages. */
export function sqsEventOf(messages: readonly Message[], queueArn: string, region: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? '',
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: region,
    })),
  };
}
