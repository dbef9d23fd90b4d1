/**
 * A function host for the launcher's Lambda bridge (tools/moto/lambda_bridge.py):
 * a small HTTP server in the test process that answers Lambda's Invoke path
 * (`POST /2015-03-31/functions/<name>/invocations`) by calling the real
 * handler of that function with the event, as the Lambda runtime would.
 *
 * The emulator cannot run Lambda code (moto needs Docker for that), so a
 * state machine's `lambda:invoke` task on the emulator reaches the handler
 * here instead: moto's Lambda finds the function in its account, forwards the
 * event, and hands the answer back to the interpreter. A handler that throws
 * answers as the Node.js runtime does, with `X-Amz-Function-Error: Unhandled`
 * and `{ errorType, errorMessage }`, so the state machine sees a function
 * error (its Retry and Catch apply) and not a result.
 *
 * The handlers read their settings and credentials from the environment,
 * as in Lambda: the host sets the variables it is given for as long as it
 * runs, so one host serves the functions of one account.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AwsCredentialIdentity } from '@smithy/types';
import {
  type AppliedStack,
  pseudoParameters,
  resolveIntrinsics,
  type StackTemplate,
} from '../../cli/local/template-applier';

/** A Lambda handler as the bridge calls it: the event in, the result out. */
export type HostedFunction = (event: unknown) => Promise<unknown>;

export interface FunctionHost {
  /** Where the bridge forwards invocations: `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Invocations so far, by function name. */
  readonly invocations: ReadonlyMap<string, number>;
  /** Stops the server and puts the environment back as it was. */
  stop(): Promise<void>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Serves `functions` by name on 127.0.0.1, with `env` set in this process
 * until {@link FunctionHost.stop}.
 */
export async function startFunctionHost(
  functions: Readonly<Record<string, HostedFunction>>,
  env: Readonly<Record<string, string>> = {},
): Promise<FunctionHost> {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  const invocations = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const name = decodeURIComponent(INVOKE_PATH.exec(request.url ?? '')?.[1] ?? '');
    const fn = request.method === 'POST' ? functions[name] : undefined;
    if (!fn) {
      response.writeHead(404, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ message: `no function ${name} on this host` }));
      return;
    }
    invocations.set(name, (invocations.get(name) ?? 0) + 1);
    void bodyOf(request)
      .then((body) => fn(body ? JSON.parse(body) : {}))
      .then(
        (result) => {
          response.writeHead(200, { 'Content-Type': 'application/json' });
          // A handler that returns nothing answers `null`, as Lambda does.
          response.end(JSON.stringify(result ?? null));
        },
        (error: unknown) => {
          const failure = error instanceof Error ? error : new Error(String(error));
          response.writeHead(200, { 'Content-Type': 'application/json', 'X-Amz-Function-Error': 'Unhandled' });
          response.end(JSON.stringify({ errorType: failure.name, errorMessage: failure.message }));
        },
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    invocations,
    async stop() {
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}

/**
 * The environment Lambda gives the function `functionName` of an applied
 * stack: its template's `Environment.Variables` resolved against what the
 * applier made (key ARNs, VPC and subnet ids, topic ARNs), plus what the
 * runtime sets (Region, credentials), pointed at the emulator.
 */
export function deployedEnvironment(
  stack: StackTemplate,
  applied: AppliedStack,
  functionName: string,
  emulator: { readonly endpoint: string; readonly credentials: AwsCredentialIdentity },
): Record<string, string> {
  const found = Object.values(stack.template.Resources).filter(
    (resource) => resource.Type === 'AWS::Lambda::Function' && resource.Properties?.FunctionName === functionName,
  );
  if (found.length !== 1)
    throw new Error(`${stack.stackName}: expected one function ${functionName}, found ${found.length}`);
  const variables = ((found[0].Properties?.Environment ?? {}) as { Variables?: unknown }).Variables ?? {};
  const resolved = resolveIntrinsics(variables, appliedScope(stack, applied), `${functionName} environment`);
  const { credentials } = emulator;
  return {
    ...(resolved as Record<string, string>),
    AWS_REGION: stack.region,
    AWS_DEFAULT_REGION: stack.region,
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
    AWS_ENDPOINT_URL: emulator.endpoint,
  };
}

/** What intrinsic functions of `stack` resolve to once the applier has made its resources. */
export function appliedScope(stack: StackTemplate, applied: AppliedStack) {
  const byId = new Map(applied.resources.map((resource) => [resource.logicalId, resource]));
  const of = (logicalId: string) => {
    const resource = byId.get(logicalId);
    if (!resource) throw new Error(`${stack.stackName}: ${logicalId} was not applied to the emulator`);
    return resource;
  };
  return {
    pseudo: pseudoParameters(stack.stackName, stack.account, stack.region),
    ref: (logicalId: string) => of(logicalId).ref,
    getAtt(logicalId: string, attribute: string) {
      const value = of(logicalId).attributes[attribute];
      if (value === undefined) throw new Error(`${stack.stackName}: ${logicalId} has no ${attribute} on the emulator`);
      return value;
    },
  };
}

/**
 * Switches the launcher's Lambda bridge on for `account`: its state machines
 * run on moto's interpreter, its functions' invocations reach `host`, and its
 * Wait states last `waitScale` of their seconds. Returns the switch back off.
 */
export async function bridgeLambda(
  endpoint: string,
  account: string,
  host: FunctionHost,
  options: { readonly waitScale?: number } = {},
): Promise<() => Promise<void>> {
  const call = async (method: 'POST' | 'DELETE', body: object) => {
    const response = await fetch(`${endpoint}/moto-api/bunker/lambda-bridge`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`lambda bridge: ${response.status} ${await response.text()}`);
  };
  await call('POST', { account, url: host.url, waitScale: options.waitScale ?? 1 });
  return () => call('DELETE', { account });
}
