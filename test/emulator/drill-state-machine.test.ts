/**
 * `bunker drill` against the drill state machine, run by the emulator: the
 * CLI's AWS path (start the execution, follow it, read the results) with
 * nothing in between but the launcher.
 *
 * The vault template is synthesized and applied as `bunker local up` does
 * (inventory table, backup-data key, alerts topic, drill place, roles). The
 * state machine is created from the template's own definition, its tokens
 * resolved to this account; the drill function is created in moto's Lambda
 * under its template name with any code. moto's ASL interpreter runs the
 * execution (Plan, the distributed Map at drills.concurrency, the Advance
 * and Wait loop of each drill in a child execution of its own, which the
 * launcher records as AWS does), and the launcher's Lambda bridge (tools/moto/lambda_bridge.py)
 * forwards each invocation to the real drill handler
 * (lambdas/handlers/drill.ts) in this process, with the environment the
 * template gives it. Wait states last a thousandth of their seconds: the
 * handler asks for 15 s after starting a restore, and the emulator's
 * restores are usable at once.
 *
 * Results, the execution and what exists before and after are read with
 * boto3.
 */
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import {
  CopyImageCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillOnAws } from '../../cli/drill';
import { localContext } from '../../cli/local/accounts';
import { type AppliedStack, applyStack, resolveIntrinsics, type StackTemplate } from '../../cli/local/template-applier';
import { synthesizeStacks } from '../../cli/local/up';
import type { AwsContext } from '../../lambdas/adapters/aws-context';
import { handler } from '../../lambdas/handlers/drill';
import { createProbeHandler } from '../../lambdas/handlers/drill-probe';
import { TcpEngineProbe } from '../../lambdas/adapters/drill/probe-tcp';
import { silentLog } from '../../lambdas/core/ports';
import type { DrillResult, DrillState } from '../../lambdas/core/drill/types';
import type { KindName } from '../../lambdas/kinds/types';
import { clientConfig, credentialsFor, DEFAULT_TEST_REGION, freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  appliedScope,
  bridgeLambda,
  deployedEnvironment,
  type FunctionHost,
  startFunctionHost,
} from '../support/function-host';
import { boto3 } from './support/boto3';
import { DRILL_LEFTOVERS_SCRIPT, ebsSnapshotCopy, recordCopy } from './support/drill-records';
import { bunkerConfig } from './support/bunker';

const endpoint = emulatorEndpoint();
const REGION = DEFAULT_TEST_REGION;
const backup = freshAccountId();
const source = freshAccountId();
const config = bunkerConfig(backup, [source], {
  artifacts: { rds: { enabled: true }, aurora: { enabled: true }, ebs: { enabled: true }, ami: { enabled: true } },
  alerts: { allowNoEmail: true },
  drills: { concurrency: 2 },
});

/**
 * After the run: the drill items of the inventory table, the state machine's
 * executions, the states the newest went through, and its Map Run's child
 * executions (one per drill) with the states each went through.
 */
const AFTER_RUN_SCRIPT = `
from boto3.dynamodb.types import TypeDeserializer
d = TypeDeserializer()
items = client('dynamodb').scan(TableName='bunker-inventory')['Items']
sfn = client('stepfunctions')
arn = sfn.list_state_machines()['stateMachines'][0]['stateMachineArn']
runs = sfn.list_executions(stateMachineArn=arn)['executions']
newest = sorted(runs, key=lambda r: r['startDate'])[-1]
def history(execution):
    return sfn.get_execution_history(executionArn=execution, maxResults=1000)['events']
def lambda_tasks(events):
    return sum(1 for e in events if e['type'] == 'TaskSucceeded' and e['taskSucceededEventDetails']['resourceType'] == 'lambda')
def entered(events):
    return [e['stateEnteredEventDetails']['name'] for e in events if 'stateEnteredEventDetails' in e]
events = history(newest['executionArn'])
map_run = [e['mapRunStartedEventDetails']['mapRunArn'] for e in events if e['type'] == 'MapRunStarted'][0]
children = []
for child in sorted(sfn.list_executions(mapRunArn=map_run)['executions'], key=lambda c: c['startDate']):
    child_events = history(child['executionArn'])
    described = sfn.describe_execution(executionArn=child['executionArn'])
    children.append({
        'arn': child['executionArn'],
        'stateMachine': child['stateMachineArn'],
        'status': child['status'],
        'start': child['startDate'].timestamp(),
        'stop': child['stopDate'].timestamp(),
        'resource': json.loads(described['input'])['subject']['resource'],
        'output': json.loads(described['output']),
        'types': [child_events[0]['type'], child_events[-1]['type']],
        'entered': entered(child_events),
        'events': len(child_events),
        'lambdaTasks': lambda_tasks(child_events),
    })
out({
  'results': [{k: d.deserialize(v) for k, v in item.items()} for item in items if 'drill' in item],
  'run': {
    'machine': arn,
    'statuses': sorted(r['status'] for r in runs),
    'entered': entered(events),
    'output': json.loads(sfn.describe_execution(executionArn=newest['executionArn'])['output']),
    'events': len(events),
    'lambdaTasks': lambda_tasks(events),
    'mapRun': map_run,
    'children': children,
  },
})
`;

interface Child {
  arn: string;
  stateMachine: string;
  status: string;
  start: number;
  stop: number;
  resource: string;
  output: DrillState;
  types: string[];
  entered: string[];
  events: number;
  lambdaTasks: number;
}

interface Run {
  machine: string;
  statuses: string[];
  entered: string[];
  output: { drills: DrillState[] };
  events: number;
  lambdaTasks: number;
  mapRun: string;
  children: Child[];
}

interface Listing {
  dbInstances: string[];
  dbClusters: string[];
  volumes: string[];
  instances: string[];
}

let vault: StackTemplate;
let applied: AppliedStack;
let context: AwsContext;
let host: FunctionHost;
let unbridge: (() => Promise<void>) | undefined;
let before: Listing;
let exit: number;
let output: string[];
let results: Map<string, DrillResult>;
let run: Run;
/** The function host's invocations during the run: one per Lambda task. */
let invocations: number;
const ids: Record<string, string> = {};
/** A resource whose next drill step the host fails before the handler runs (a crash the Catch must contain). */
let crashFirstStepOf: string | undefined;

/** The one resource of `type` in the vault template named `name`. */
function templateResource(type: string, property: string, name: string) {
  const found = Object.values(vault.template.Resources).filter(
    (resource) => resource.Type === type && resource.Properties?.[property] === name,
  );
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0].Properties ?? {};
}

function record(kind: KindName, id: string, resource: string, copyId: string, sizeGiB: number, engine?: string) {
  const at = { endpoint, backup, source, region: REGION, table: 'bunker-inventory', keyArn: ids.key };
  return recordCopy(at, { kind, id, resource, copyId, sizeGiB, engine });
}

/** One copy of each snapshot kind in the backup account, under the backup-data key, as the pipeline leaves them. */
async function makeCopies() {
  const rds = new RDSClient(clientConfig(endpoint, backup, REGION));
  const ec2 = new EC2Client(clientConfig(endpoint, backup, REGION));
  const KmsKeyId = ids.key;
  const secret = { MasterUsername: 'test', MasterUserPassword: 'test-only-password', StorageEncrypted: true, KmsKeyId };
  await rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'payments-db',
      Engine: 'postgres',
      DBInstanceClass: 'db.t4g.micro',
      AllocatedStorage: 20,
      ...secret,
    }),
  );
  await rds.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'payments-db', DBSnapshotIdentifier: 'p-nightly' }),
  );
  await rds.send(
    new CopyDBSnapshotCommand({
      SourceDBSnapshotIdentifier: 'p-nightly',
      TargetDBSnapshotIdentifier: 'p-copy',
      KmsKeyId,
    }),
  );
  await record('rds-snapshot', 'p-nightly', 'payments-db', 'p-copy', 20, 'postgres');

  await rds.send(
    new CreateDBClusterCommand({ DBClusterIdentifier: 'orders-cluster', Engine: 'aurora-postgresql', ...secret }),
  );
  await rds.send(
    new CreateDBClusterSnapshotCommand({
      DBClusterIdentifier: 'orders-cluster',
      DBClusterSnapshotIdentifier: 'o-nightly',
    }),
  );
  await rds.send(
    new CopyDBClusterSnapshotCommand({
      SourceDBClusterSnapshotIdentifier: 'o-nightly',
      TargetDBClusterSnapshotIdentifier: 'o-copy',
      KmsKeyId,
    }),
  );
  // Aurora reports a cluster snapshot's AllocatedStorage as 1.
  await record('aurora-cluster-snapshot', 'o-nightly', 'orders-cluster', 'o-copy', 1, 'aurora-postgresql');

  const volume = async () =>
    (await ec2.send(new CreateVolumeCommand({ Size: 8, AvailabilityZone: `${REGION}a`, Encrypted: true, KmsKeyId })))
      .VolumeId ?? '';
  const made = await ebsSnapshotCopy(ec2, REGION, KmsKeyId);
  ids.volume = made.volumeId;
  await record('ebs-snapshot', made.snapshotId, ids.volume, made.copyId, 8);

  const root = await ec2.send(new CreateSnapshotCommand({ VolumeId: await volume() }));
  const { ImageId } = await ec2.send(
    new RegisterImageCommand({
      Name: 'web-server',
      RootDeviceName: '/dev/xvda',
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: root.SnapshotId, VolumeSize: 8 } }],
    }),
  );
  const image = await ec2.send(
    new CopyImageCommand({
      SourceImageId: ImageId,
      SourceRegion: REGION,
      Name: 'bunker-web',
      Encrypted: true,
      KmsKeyId,
    }),
  );
  await record('ami', ImageId ?? '', 'web-server', image.ImageId ?? '', 8);
  rds.destroy();
  ec2.destroy();
}

/** The drill function and the state machine, from the vault template, in this account's Lambda and Step Functions. */
async function deployDrills() {
  const scope = appliedScope(vault, applied);
  const roleOf = (name: string) => `arn:aws:iam::${backup}:role/${name}`;
  // The drill function and the engine probe it invokes. Any code: the bridge runs the handlers in this process.
  for (const name of ['bunker-drill', 'bunker-drill-probe']) {
    const fn = templateResource('AWS::Lambda::Function', 'FunctionName', name);
    await boto3(
      endpoint,
      backup,
      `
import io, zipfile
code = io.BytesIO()
with zipfile.ZipFile(code, 'w') as z: z.writestr('index.js', '')
client('lambda').create_function(FunctionName=ARGS['name'], Runtime='nodejs20.x', Role=ARGS['role'],
    Handler='index.handler', Code={'ZipFile': code.getvalue()}, Timeout=ARGS['timeout'])
out(True)
`,
      { name: fn.FunctionName, role: roleOf(name), timeout: fn.Timeout },
    );
  }
  const machine = templateResource('AWS::StepFunctions::StateMachine', 'StateMachineName', 'bunker-drill');
  const sfn = new SFNClient(clientConfig(endpoint, backup, REGION));
  await sfn.send(
    new CreateStateMachineCommand({
      name: String(machine.StateMachineName),
      definition: String(resolveIntrinsics(machine.DefinitionString, scope, 'DefinitionString')),
      roleArn: String(resolveIntrinsics(machine.RoleArn, scope, 'RoleArn')),
    }),
  );
  sfn.destroy();
}

beforeAll(async () => {
  ({ vault } = synthesizeStacks(config));
  const contextFor = async (account: string, region: string) => ({
    endpoint,
    region,
    credentials: await credentialsFor(endpoint, account),
  });
  applied = await applyStack(vault, { contextFor });
  ids.key = applied.resources.find((r) => r.type === 'AWS::KMS::Key' && r.logicalId.startsWith('BackupKey'))?.attributes
    .Arn as string;
  host = await startFunctionHost(
    {
      // The launcher's engine listeners are on the loopback: the probe's drill network here.
      'bunker-drill-probe': createProbeHandler({
        cidr: '127.0.0.0/8',
        resolve: async (address) => [address],
        probe: new TcpEngineProbe(),
        log: silentLog,
      }),
      'bunker-drill': async (event) => {
        const request = event as { action?: string; state?: DrillState };
        if (request.action === 'advance' && request.state?.subject.resource === crashFirstStepOf) {
          crashFirstStepOf = undefined;
          throw new Error('the function crashed before the handler ran');
        }
        return handler(event);
      },
    },
    {
      ...deployedEnvironment(vault, applied, 'bunker-drill', {
        endpoint,
        credentials: await credentialsFor(endpoint, backup),
      }),
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  );
  unbridge = await bridgeLambda(endpoint, backup, host, { waitScale: 0.001 });
  await Promise.all([deployDrills(), makeCopies()]);

  before = await boto3<Listing>(endpoint, backup, DRILL_LEFTOVERS_SCRIPT);
  context = await localContext(endpoint, backup, REGION, TEST_ROLE_NAME);
  output = [];
  exit = await drillOnAws(config, context, {}, (line) => output.push(line), { pollSeconds: 0.2 });
  invocations = host.invocations.get('bunker-drill') ?? 0;
  const after = await boto3<{ results: { resource: string; last: DrillResult }[]; run: Run }>(
    endpoint,
    backup,
    AFTER_RUN_SCRIPT,
  );
  results = new Map(after.results.map((item) => [item.resource, item.last]));
  run = after.run;
}, 90_000);

afterAll(async () => {
  await unbridge?.();
  await host?.stop();
});

const checksOf = (result: DrillResult | undefined) => (result?.checks ?? []).map((c) => `${c.name}:${c.ok}`);

describe("bunker drill through the drill state machine (launcher: moto's ASL interpreter, Lambda forwarded to the handler in-process)", () => {
  it('runs every snapshot kind’s drill to a pass, printing each drill’s progress, and exits 0', () => {
    expect(exit).toBe(0);
    expect(output[0]).toMatch(
      new RegExp(`^Started arn:aws:states:${REGION}:${backup}:execution:bunker-drill:[0-9a-f-]{36}$`),
    );
    expect(output).toContain('4 drill(s) planned.');
    expect(output).toContain(`  rds payments-db (${source}, newest copy p-copy): queued`);
    for (const words of ['waiting for the restore to be usable', 'validating', 'waiting for the teardown', 'passed']) {
      expect(
        output.filter((line) => line.endsWith(`aurora orders-cluster (${source}, newest copy o-copy): ${words}`)),
      ).toHaveLength(1);
    }
    expect(output.filter((line) => line.startsWith('PASSED '))).toHaveLength(4);
    expect([...results.keys()].sort()).toEqual([ids.volume, 'orders-cluster', 'payments-db', 'web-server'].sort());
    for (const result of results.values()) {
      expect(result.outcome, result.failure).toBe('passed');
      expect(result.tornDown).toBe(true);
    }
    expect(checksOf(results.get('payments-db'))).toEqual([
      'status:true',
      'engine:true',
      'key:true',
      'size:true',
      'not public:true',
      'isolated:true',
      'engine answers:true',
      'restore time:true',
    ]);
  });

  it('ran the template’s definition: Plan, then the Map Run, in a history that does not grow with the drills', () => {
    expect(run.machine).toBe(`arn:aws:states:${REGION}:${backup}:stateMachine:bunker-drill`);
    expect(run.statuses).toEqual(['SUCCEEDED']);
    expect(run.entered).toEqual(['Mark plan', 'Plan', 'Each drill']);
    expect(run.mapRun).toMatch(
      new RegExp(`^arn:aws:states:${REGION}:${backup}:mapRun:bunker-drill/drill:[0-9a-f-]{36}$`),
    );
    // The plan's one Lambda task, and 15 events whatever the number of drills (165 for these 4 in one history before).
    expect(run.lambdaTasks).toBe(1);
    expect(run.events).toBe(15);
    // The Map discards its result: the run's output is the plan, whatever the drills' final states weigh.
    expect(Object.keys(run.output)).toEqual(['drills']);
    expect(run.output.drills.map((d) => d.phase)).toEqual(['restoring', 'restoring', 'restoring', 'restoring']);
  });

  it('ran each drill as a child execution of the Map Run, with its own history, through Advance and the waits (launcher: child executions)', () => {
    expect(run.children.map((child) => child.resource).sort()).toEqual(
      [ids.volume, 'orders-cluster', 'payments-db', 'web-server'].sort(),
    );
    for (const child of run.children) {
      expect(child.arn).toMatch(
        new RegExp(`^arn:aws:states:${REGION}:${backup}:execution:bunker-drill/drill:[0-9a-f-]{36}$`),
      );
      expect(child.stateMachine).toBe(`arn:aws:states:${REGION}:${backup}:stateMachine:bunker-drill/drill`);
      expect(child.status).toBe('SUCCEEDED');
      expect(child.types).toEqual(['ExecutionStarted', 'ExecutionSucceeded']);
      expect(child.entered[0]).toBe('Advance');
      expect(child.entered.at(-1)).toBe('Drill finished');
      expect(child.output).toMatchObject({ phase: 'done', done: true });
      // Each step nine events (Advance's five, Done?'s two, a wait's or the end's two), and the child's start and end.
      expect(child.events).toBe(child.lambdaTasks * 9 + 2);
    }
    // Every Advance the host ran is in some child's history; the run's own is the plan.
    expect(run.children.reduce((sum, child) => sum + child.lambdaTasks, run.lambdaTasks)).toBe(invocations);
    expect(run.children.flatMap((child) => child.entered)).toContain('Wait as asked');
    // drills.concurrency (2): never more children at once, and the third started only as one ended.
    const runningAtStarts = run.children.map(
      ({ start }) => run.children.filter((other) => other.start <= start && start < other.stop).length,
    );
    expect(Math.max(...runningAtStarts)).toBe(2);
  });

  it('says which state machine does not exist, and how to get one', async () => {
    await expect(drillOnAws({ ...config, name: 'elsewhere' }, context, {}, () => undefined)).rejects.toThrow(
      `The drill state machine arn:aws:states:${REGION}:${backup}:stateMachine:elsewhere-drill does not exist: ` +
        'deploy the vault stack with drills.enabled (bunker deploy), or drill on the emulator with --endpoint.',
    );
  });

  it('reports a failed execution with its cause and exits 1 (the handler refuses a plan of an unknown kind)', async () => {
    const lines: string[] = [];
    expect(
      await drillOnAws(config, context, { kind: 'nosuch' }, (line) => lines.push(line), { pollSeconds: 0.1 }),
    ).toBe(1);
    expect(lines.at(-1)).toMatch(
      /^The drill execution ended FAILED \(.*kind: unknown kind nosuch.*\): see arn:aws:states:eu-west-1:\d{12}:execution:bunker-drill:/,
    );
  });

  it('contains a crashed step: the drill is reported unfinished and the run exits 1 (double: the host fails one step before the handler runs)', async () => {
    crashFirstStepOf = 'payments-db';
    const lines: string[] = [];
    const status = await drillOnAws(config, context, { resource: 'payments-db' }, (line) => lines.push(line), {
      pollSeconds: 0.1,
    });
    expect(crashFirstStepOf).toBeUndefined();
    expect(lines).toContain('1 drill(s) planned.');
    expect(
      lines.filter((line) => / rds payments-db .*: STEP FAILED \(Error\): see the drill function's log$/.test(line)),
    ).toHaveLength(1);
    expect(lines.at(-1)).toBe("1 drill(s) did not finish (a step failed): see the drill function's log and alarms.");
    expect(status).toBe(1);
  });

  it('invokes through moto’s Lambda in the state machine’s account: a function it does not hold fails the task as in AWS', async () => {
    // The template's definition under another name, naming a function this account does not have.
    const machine = templateResource('AWS::StepFunctions::StateMachine', 'StateMachineName', 'bunker-drill');
    const scope = appliedScope(vault, applied);
    const definition = String(resolveIntrinsics(machine.DefinitionString, scope, 'DefinitionString'));
    const sfn = new SFNClient(clientConfig(endpoint, backup, REGION));
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({
        name: 'bunker-ghost',
        definition: definition.replaceAll(':function:bunker-drill"', ':function:bunker-ghost"'),
        roleArn: String(resolveIntrinsics(machine.RoleArn, scope, 'RoleArn')),
      }),
    );
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: '{"plan":{}}' }));
    let execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    for (let polls = 0; execution.status === 'RUNNING' && polls < 50; polls += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    }
    sfn.destroy();
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('Lambda.ResourceNotFoundException');
    expect(execution.cause).toContain('bunker-ghost');
  });

  it('leaves nothing behind', async () => {
    expect(await boto3<Listing>(endpoint, backup, DRILL_LEFTOVERS_SCRIPT)).toEqual(before);
  });
});
