/**
 * `bunker drill`: restore the newest copy of each resource (filtered by
 * kind, account, resource) into the isolated place, validate it, time it,
 * tear it down and record the result.
 *
 * Against AWS it starts the vault's drill state machine (`<name>-drill`)
 * and follows it: a restore outlasts any one process, and the state
 * machine finishes the drill (and tears it down) even if this command is
 * stopped. Against the emulator (`--endpoint`) it runs the same plan and
 * steps in-process with the same modules, since the emulator has no Step
 * Functions to run them and restores there are instant.
 *
 * Exit status: 0 when every drill passed, 2 when any failed, 1 on an error
 * (including nothing to drill).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { isBackPressure } from '../lambdas/adapters/drill/checks';
import { DynamoDrillLog } from '../lambdas/adapters/drill/dynamo-drill-log';
import { drillModules } from '../lambdas/adapters/drill/modules';
import { createDrillPlace, findDrillPlace } from '../lambdas/adapters/drill/place';
import { drillPorts } from '../lambdas/adapters/drill/wiring';
import { type DrillActionDeps, engineDeps, type PlanRequest, planRequested } from '../lambdas/core/drill/actions';
import { advanceDrill } from '../lambdas/core/drill/engine';
import type { DrillSettings } from '../lambdas/core/drill/settings';
import type { DrillLog, DrillModules, DrillResult, DrillState } from '../lambdas/core/drill/types';
import { BunkerError } from '../lambdas/core/errors';
import { vaultNames } from '../lambdas/core/names';
import { systemClock } from '../lambdas/core/ports';
import { drillSettings } from '../lib/config/runtime';
import { type BunkerConfig, DRILL_KIND_KEYS } from '../lib/config/schema';
import { alertsTopicName } from '../lib/constructs/audit';

/** Exit statuses of `bunker drill`, documented in its `--help`. */
export const DRILL_EXIT = { passed: 0, error: 1, failed: 2 } as const;

export interface DrillFilter {
  readonly kind?: string;
  readonly account?: string;
  readonly resource?: string;
}

const elapsed = (since: number, now = Date.now()) => {
  const seconds = Math.round((now - since) / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
};

const what = (state: DrillState) =>
  `${state.subject.kind} ${state.subject.resource} (${state.subject.account}, ${state.subject.pick} copy ${state.subject.copyId})`;

const PHASE_WORDS: Record<DrillState['phase'], string> = {
  restoring: 'waiting for the restore to be usable',
  validating: 'validating',
  'tearing-down': 'waiting for the teardown',
  done: 'done',
};

/**
 * Plans and runs drills to the end in-process, one step at a time, with
 * progress lines; waits are `waitSeconds` times `waitScale` (the emulator's
 * restores are instant). Drills advance side by side, `concurrency` at a time.
 */
export async function runDrillsInProcess(
  request: PlanRequest,
  deps: DrillActionDeps,
  progress: (line: string) => void,
  options: { waitScale?: number; concurrency?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<DrillState[]> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const planned = await planRequested(request, deps);
  progress(`${planned.length} drill(s) planned.`);
  const engine = engineDeps(deps);
  const started = Date.now();
  const finished: DrillState[] = [];
  const queue = [...planned];
  const worker = async () => {
    for (let state = queue.shift(); state; state = queue.shift()) {
      progress(`  ${what(state)}: restoring`);
      while (!state.done) {
        state = await advanceDrill(state, engine);
        if (state.done) break;
        progress(`  [${elapsed(started)}] ${what(state)}: ${PHASE_WORDS[state.phase]}`);
        await sleep((state.waitSeconds ?? 0) * 1000 * (options.waitScale ?? 1));
      }
      progress(`  [${elapsed(started)}] ${what(state)}: ${state.failure ? `FAILED: ${state.failure}` : 'passed'}`);
      finished.push(state);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker));
  return finished;
}

/** The drill settings against the emulator: the place, the backup-data key and the alerts topic found by name. */
export async function emulatorDrillSettings(config: BunkerConfig, context: AwsContext): Promise<DrillSettings> {
  const place = await findDrillPlace(context, config.name);
  const kms = new KMSClient(clientConfig(context));
  try {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: vaultNames(config.name).backupKeyAlias }));
    if (!KeyMetadata?.Arn) throw new BunkerError(`no key ${vaultNames(config.name).backupKeyAlias}`);
    const topic = `arn:aws:sns:${config.backup.region}:${config.backup.account}:${alertsTopicName(config.name)}`;
    return drillSettings(config, KeyMetadata.Arn, place, topic);
  } finally {
    kms.destroy();
  }
}

/** Everything a drill needs on the SDK, for `bunker drill --endpoint` and the demo. */
export function sdkDrillDeps(
  context: AwsContext,
  settings: DrillSettings,
  extraModules: DrillModules = {},
): DrillActionDeps & { log: DrillLog } {
  const ports = drillPorts(context, settings);
  return {
    settings,
    clock: systemClock,
    log: ports.log,
    planInput: ports.planInput,
    random: Math.random,
    engine: {
      modules: { ...drillModules(context, settings), ...extraModules },
      alert: (text) => ports.alert(text.split('\n')[0].slice(0, 100), text),
      backPressure: isBackPressure,
    },
  };
}

/** One line per drill result. */
export function resultLines(results: readonly DrillResult[]): string[] {
  return results.map((r) => {
    const time = r.restoreSeconds === undefined ? 'never usable' : `usable in ${formatMinutes(r.restoreSeconds)}`;
    const checks = r.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}`).join(', ');
    return [
      `${r.outcome === 'passed' ? 'PASSED' : 'FAILED'} ${r.subject.kind} ${r.subject.resource} (${r.subject.account} ${r.subject.region})`,
      `  copy ${r.subject.copyId} (${r.subject.pick}), ${time} (target ${formatMinutes(r.targetSeconds)})${r.tornDown ? '' : ', NOT torn down'}`,
      ...(checks ? [`  checks: ${checks}`] : []),
      ...(r.failure ? [`  why: ${r.failure}`] : []),
    ].join('\n');
  });
}

export const formatMinutes = (seconds: number) =>
  seconds < 60 ? `${seconds} s` : `${Math.round((seconds / 60) * 10) / 10} min`;

/** The results of drills that finished since `since`, matching the filter. */
async function resultsSince(log: DrillLog, since: string, filter: DrillFilter): Promise<DrillResult[]> {
  return (await log.latest({ ...(filter.account ? { account: filter.account } : {}) }))
    .map((s) => s.last)
    .filter((r) => r.finishedAt >= since)
    .filter((r) => !filter.kind || r.subject.kind === filter.kind)
    .filter((r) => !filter.resource || r.subject.resource === filter.resource);
}

/** `bunker drill` against the emulator: in-process. Returns the exit status. */
export async function drillOnEmulator(
  config: BunkerConfig,
  context: AwsContext,
  filter: DrillFilter,
  say: (line: string) => void,
  extraModules: DrillModules = {},
): Promise<number> {
  const settings = await emulatorDrillSettings(config, context);
  const deps = sdkDrillDeps(context, settings, extraModules);
  const since = new Date().toISOString();
  const states = await runDrillsInProcess({ action: 'plan', ...filter }, deps, say, {
    waitScale: 0.01,
    concurrency: config.drills.concurrency,
  });
  if (states.length === 0) {
    say('Nothing to drill: no copy matches (see `bunker inventory`).');
    return DRILL_EXIT.error;
  }
  const results = await resultsSince(deps.log, since, filter);
  for (const line of resultLines(results)) say(line);
  return states.some((s) => s.failure) ? DRILL_EXIT.failed : DRILL_EXIT.passed;
}

/**
 * `bunker drill` against AWS: starts the drill state machine with the
 * filters and follows it until it ends, printing what it waits for.
 */
export async function drillOnAws(
  config: BunkerConfig,
  context: AwsContext,
  filter: DrillFilter,
  say: (line: string) => void,
  options: { pollSeconds?: number; partition?: string } = {},
): Promise<number> {
  const sfn = new SFNClient(clientConfig(context));
  const arn = `arn:${options.partition ?? 'aws'}:states:${config.backup.region}:${config.backup.account}:stateMachine:${config.name}-drill`;
  const since = new Date().toISOString();
  const started = Date.now();
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify({ plan: { ...filter } }) }),
  );
  if (!executionArn) throw new BunkerError(`Step Functions started no execution of ${arn}`);
  say(`Started ${executionArn}`);
  let status = 'RUNNING';
  while (status === 'RUNNING') {
    await new Promise((resolve) => setTimeout(resolve, (options.pollSeconds ?? 15) * 1000));
    status = (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status ?? 'UNKNOWN';
    const { events = [] } = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 20 }),
    );
    const entered = events.find((e) => e.stateEnteredEventDetails)?.stateEnteredEventDetails?.name;
    say(`  [${elapsed(started)}] ${status.toLowerCase()}${entered ? `, in ${entered}` : ''}`);
  }
  const log = new DynamoDrillLog(new DynamoDBClient(clientConfig(context)), vaultNames(config.name).inventoryTable);
  const results = await resultsSince(log, since, filter);
  for (const line of resultLines(results)) say(line);
  if (status !== 'SUCCEEDED') {
    say(`The drill execution ended ${status}: see ${executionArn} in the Step Functions console.`);
    return results.some((r) => r.outcome === 'failed') ? DRILL_EXIT.failed : DRILL_EXIT.error;
  }
  if (results.length === 0) {
    say('Nothing was drilled: no copy matches (see `bunker inventory`).');
    return DRILL_EXIT.error;
  }
  return results.some((r) => r.outcome === 'failed') ? DRILL_EXIT.failed : DRILL_EXIT.passed;
}

/**
 * `make demo`'s drill step: a drill of every enabled snapshot kind (and of
 * the kinds `extraModules` brings), in-process, printed. Makes the drill
 * place first when the local mode did not.
 */
export async function demoDrills(
  config: BunkerConfig,
  context: AwsContext,
  progress: (line: string) => void,
  extraModules: DrillModules = {},
): Promise<number> {
  progress('Restore drills: the newest copy of every resource restored in the isolated place, validated and deleted');
  await findDrillPlace(context, config.name).catch(() => createDrillPlace(context, config.name));
  const kinds = DRILL_KIND_KEYS;
  let worst: number = DRILL_EXIT.passed;
  for (const kind of kinds.filter((k) => config.artifacts[k].enabled)) {
    const exit = await drillOnEmulator(config, context, { kind }, (line) => progress(`  ${line}`), extraModules);
    if (exit !== DRILL_EXIT.passed && worst !== DRILL_EXIT.failed) worst = exit;
  }
  return worst;
}
