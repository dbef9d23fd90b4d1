/**
 * `bunker drill`: restore the newest copy of each resource (filtered by
 * kind, account, resource) into the isolated place, validate it, time it,
 * tear it down and record the result.
 *
 * Against AWS it starts the vault's drill state machine (`<name>-drill`)
 * and follows it: a restore outlasts any one process, and the state
 * machine finishes the drill (and tears it down) even if this command is
 * stopped. Each drill runs as a child execution of the run's distributed
 * Map (so no run outgrows one execution's 25,000 history events): the plan
 * is in the run's history (the Plan state's output), each drill's progress
 * in its child's (the Advance states' outputs), found by listing the Map
 * Run's executions; both are the drills' states, identifiers and phases,
 * never a value. The results come from the drill log, the record of truth.
 * Against the emulator (`--endpoint`) it runs the same plan and steps
 * in-process with the same modules, since the emulator runs no Lambda code
 * and restores there are instant. (The AWS path itself is proven on the
 * emulator through the launcher's Lambda bridge: see
 * test/emulator/drill-state-machine.test.ts.)
 *
 * Exit status: 0 when every drill passed, 2 when any failed, 1 on an error
 * (including nothing to drill, and a drill whose step failed unfinished).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  DescribeExecutionCommand,
  type ExecutionListItem,
  type HistoryEvent,
  paginateGetExecutionHistory,
  paginateListExecutions,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
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
import { safeText } from '../lambdas/core/text';
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

/** `in eu-central-1 ` for a second-Region copy: the same resource is drilled in both Regions in one run. */
const secondRegionText = (subject: DrillState['subject']) => (subject.hop === 2 ? ` in ${subject.copyRegion}` : '');

const what = (state: DrillState) =>
  `${state.subject.kind} ${state.subject.resource} (${state.subject.account}, ${state.subject.pick} copy ${state.subject.copyId}${secondRegionText(state.subject)})`;

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

/**
 * The drill settings against the emulator: the place, the backup-data key
 * and the alerts topic found by name. With `backup.secondRegion`, the
 * second Region's place and key are found by the same names there when a
 * second-hop copy is first drilled (`drillModules`).
 */
export async function emulatorDrillSettings(config: BunkerConfig, context: AwsContext): Promise<DrillSettings> {
  const place = await findDrillPlace(context, config.name);
  const kms = new KMSClient(clientConfig(context));
  try {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: vaultNames(config.name).backupKeyAlias }));
    if (!KeyMetadata?.Arn) throw new BunkerError(`no key ${vaultNames(config.name).backupKeyAlias}`);
    const topic = `arn:aws:sns:${config.backup.region}:${config.backup.account}:${alertsTopicName(config.name)}`;
    const second = config.backup.secondRegion;
    return { ...drillSettings(config, KeyMetadata.Arn, place, topic), ...(second ? { secondRegion: second } : {}) };
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
      `  copy ${r.subject.copyId} (${r.subject.pick}${r.subject.hop === 2 ? `, second Region ${r.subject.copyRegion}` : ''}), ${time} (target ${formatMinutes(r.targetSeconds)})${r.tornDown ? '' : ', NOT torn down'}`,
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

/** The drill state machine's ARN: `<name>-drill` in the backup account's home Region. */
export function drillStateMachineArn(config: BunkerConfig): string {
  const { account, region } = config.backup;
  return `arn:${partitionOf(region)}:states:${region}:${account}:stateMachine:${config.name}-drill`;
}

const partitionOf = (region: string) =>
  region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';

/** A state's output as the history records it, when it is JSON. */
function outputOf(event: HistoryEvent): unknown {
  const output = event.stateExitedEventDetails?.output;
  if (!output) return undefined;
  try {
    return JSON.parse(output);
  } catch {
    return undefined;
  }
}

const isDrillState = (value: unknown): value is DrillState =>
  typeof value === 'object' && value !== null && typeof (value as DrillState).drillId === 'string';

/**
 * What a run of the drill state machine has done, read from the histories
 * of the run and of its drills' child executions: the plan (the Plan
 * state's output, in the run's), the Map Run the drills run in (its
 * MapRunStarted event), each drill's latest state (the Advance state's
 * outputs, in the drill's child execution) and the drills whose step
 * failed (caught into "Drill step failed"). The histories carry the
 * states' outputs: the drills' identifiers and phases, never a value.
 */
export class ExecutionProgress {
  /** Drill ids in plan order, once the plan is known. */
  planned?: readonly string[];
  /** The Map Run whose child executions are the drills, once it has started. */
  mapRunArn?: string;
  readonly drills = new Map<string, DrillState>();
  /** Drills whose step failed (a function error, caught): they did not finish. */
  readonly stepFailed = new Set<string>();
  /** The newest event seen of each execution: its history is read again from its newest end at each poll. */
  private readonly seen = new Map<string, number>();

  /** The id of the newest event taken from `execution`'s history (0 before any). */
  lastEventId(execution: string): number {
    return this.seen.get(execution) ?? 0;
  }

  /**
   * Takes events of `execution` (the run or one drill's child; any order,
   * repeats ignored) and returns the lines that say what changed.
   */
  take(execution: string, events: readonly HistoryEvent[], elapsedText: string): string[] {
    const lines: string[] = [];
    const last = this.lastEventId(execution);
    const fresh = events.filter((e) => (e.id ?? 0) > last).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    for (const event of fresh) {
      this.seen.set(execution, Math.max(this.lastEventId(execution), event.id ?? 0));
      if (event.mapRunStartedEventDetails?.mapRunArn) this.mapRunArn = event.mapRunStartedEventDetails.mapRunArn;
      const name = event.stateExitedEventDetails?.name;
      const output = outputOf(event);
      if (name === 'Plan' && output && Array.isArray((output as { drills?: unknown }).drills)) {
        const drills = (output as { drills: unknown[] }).drills.filter(isDrillState);
        this.planned = drills.map((d) => d.drillId);
        lines.push(`${drills.length} drill(s) planned.`);
        for (const drill of drills) {
          this.drills.set(drill.drillId, drill);
          lines.push(`  ${what(drill)}: queued`);
        }
      } else if ((name === 'Advance' || name === 'Drill step failed') && isDrillState(output)) {
        const before = this.drills.get(output.drillId);
        this.drills.set(output.drillId, output);
        if (name === 'Drill step failed') {
          this.stepFailed.add(output.drillId);
          const error = (output as { error?: { Error?: string } }).error?.Error ?? 'an error';
          lines.push(`  [${elapsedText}] ${what(output)}: STEP FAILED (${error}): see the drill function's log`);
        } else if (output.done) {
          lines.push(`  [${elapsedText}] ${what(output)}: ${output.failure ? `FAILED: ${output.failure}` : 'passed'}`);
        } else if (!before || before.phase !== output.phase || !before.handle) {
          lines.push(`  [${elapsedText}] ${what(output)}: ${PHASE_WORDS[output.phase]}`);
        }
      }
    }
    return lines;
  }

  /** How many drills are in each phase: `2 restoring, 1 done of 3`. */
  summary(): string {
    const counts = new Map<string, number>();
    for (const drill of this.drills.values()) {
      const phase = this.stepFailed.has(drill.drillId) ? 'step failed' : drill.done ? 'done' : drill.phase;
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    const order = ['restoring', 'validating', 'tearing-down', 'done', 'step failed'];
    const parts = order.filter((p) => counts.get(p)).map((p) => `${counts.get(p)} ${p.replace('-', ' ')}`);
    return `${parts.join(', ') || 'planning'}${this.planned ? ` of ${this.planned.length}` : ''}`;
  }
}

/** Reads the events of `executionArn` after `progress.lastEventId`, newest first, stopping at the first one already seen. */
async function newEvents(sfn: SFNClient, executionArn: string, progress: ExecutionProgress): Promise<HistoryEvent[]> {
  const seen = progress.lastEventId(executionArn);
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory(
    { client: sfn, pageSize: 1000 },
    { executionArn, reverseOrder: true, includeExecutionData: true },
  )) {
    const pageEvents = page.events ?? [];
    events.push(...pageEvents);
    if (pageEvents.some((e) => (e.id ?? 0) <= seen)) break;
  }
  return events;
}

/**
 * The drills' child executions of the Map Run, oldest first: each is read
 * until it is seen ended (its history then holds its last event), and not
 * again.
 */
async function childExecutions(sfn: SFNClient, mapRunArn: string): Promise<ExecutionListItem[]> {
  const children: ExecutionListItem[] = [];
  for await (const page of paginateListExecutions({ client: sfn, pageSize: 1000 }, { mapRunArn })) {
    children.push(...(page.executions ?? []));
  }
  return children.sort((a, b) => (a.startDate?.getTime() ?? 0) - (b.startDate?.getTime() ?? 0));
}

/** How often `bunker drill` reads the execution against AWS, and after how long without news it says it still waits. */
const POLL_SECONDS = 15;
const QUIET_SECONDS = 60;

/**
 * `bunker drill` against AWS: starts the drill state machine with the
 * filters and follows it until it ends, printing each drill's progress
 * from the histories of the run and of its drills' child executions, then
 * the results from the inventory.
 *
 * @throws BunkerError when the state machine does not exist
 */
export async function drillOnAws(
  config: BunkerConfig,
  context: AwsContext,
  filter: DrillFilter,
  say: (line: string) => void,
  options: { pollSeconds?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<number> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const pollMs = (options.pollSeconds ?? POLL_SECONDS) * 1000;
  const sfn = new SFNClient(clientConfig(context));
  const dynamo = new DynamoDBClient(clientConfig(context));
  try {
    const arn = drillStateMachineArn(config);
    const since = new Date().toISOString();
    const started = Date.now();
    const plan = Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined));
    let executionArn: string | undefined;
    try {
      ({ executionArn } = await sfn.send(
        new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify({ plan }) }),
      ));
    } catch (error) {
      if (error instanceof StateMachineDoesNotExist) {
        throw new BunkerError(
          `The drill state machine ${arn} does not exist: deploy the vault stack with drills.enabled ` +
            '(bunker deploy), or drill on the emulator with --endpoint.',
        );
      }
      throw error;
    }
    if (!executionArn) throw new BunkerError(`Step Functions started no execution of ${arn}`);
    say(`Started ${executionArn}`);
    say('The state machine finishes every drill (and tears it down) even if this command is stopped.');
    const progress = new ExecutionProgress();
    /** Drills' child executions seen ended and read to their end. */
    const ended = new Set<string>();
    let status = 'RUNNING';
    let lastNews = Date.now();
    let described: { error?: string; cause?: string } = {};
    while (status === 'RUNNING') {
      await sleep(pollMs);
      const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      status = execution.status ?? 'UNKNOWN';
      described = { error: execution.error, cause: execution.cause };
      const lines = progress.take(executionArn, await newEvents(sfn, executionArn, progress), elapsed(started));
      // The children after the run: a run seen ended has no child left running, so its last poll reads them all.
      for (const child of progress.mapRunArn ? await childExecutions(sfn, progress.mapRunArn) : []) {
        const childArn = child.executionArn;
        if (!childArn || ended.has(childArn)) continue;
        if (child.status !== 'RUNNING') ended.add(childArn);
        lines.push(...progress.take(childArn, await newEvents(sfn, childArn, progress), elapsed(started)));
      }
      for (const line of lines) say(line);
      if (lines.length > 0) lastNews = Date.now();
      else if (status === 'RUNNING' && Date.now() - lastNews >= QUIET_SECONDS * 1000) {
        say(`  [${elapsed(started)}] still running: ${progress.summary()}`);
        lastNews = Date.now();
      }
    }
    const log = new DynamoDrillLog(dynamo, vaultNames(config.name).inventoryTable);
    const planned = new Set(progress.planned ?? []);
    const results = (await resultsSince(log, since, filter)).filter(
      (r) => planned.size === 0 || planned.has(r.drillId),
    );
    for (const line of resultLines(results)) say(line);
    const anyFailed =
      results.some((r) => r.outcome === 'failed') || [...progress.drills.values()].some((d) => d.done && d.failure);
    if (status !== 'SUCCEEDED') {
      const why = [described.error, described.cause].filter(Boolean).join(': ');
      say(`The drill execution ended ${status}${why ? ` (${safeText(why, 500)})` : ''}: see ${executionArn}.`);
      return anyFailed ? DRILL_EXIT.failed : DRILL_EXIT.error;
    }
    if (progress.planned?.length === 0 || (progress.planned === undefined && results.length === 0)) {
      say('Nothing was drilled: no copy matches (see `bunker inventory`).');
      return DRILL_EXIT.error;
    }
    if (anyFailed) return DRILL_EXIT.failed;
    const unfinished = [...progress.drills.values()].filter((d) => !d.done);
    if (unfinished.length > 0) {
      say(`${unfinished.length} drill(s) did not finish (a step failed): see the drill function's log and alarms.`);
      return DRILL_EXIT.error;
    }
    return DRILL_EXIT.passed;
  } finally {
    sfn.destroy();
    dynamo.destroy();
  }
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
  // Each Region with copies has its place: the second Region's copies restore only there.
  for (const region of [config.backup.region, ...(config.backup.secondRegion ? [config.backup.secondRegion] : [])]) {
    const there = { ...context, region };
    await findDrillPlace(there, config.name).catch(() => createDrillPlace(there, config.name));
  }
  const kinds = DRILL_KIND_KEYS;
  let worst: number = DRILL_EXIT.passed;
  for (const kind of kinds.filter((k) => config.artifacts[k].enabled)) {
    const exit = await drillOnEmulator(config, context, { kind }, (line) => progress(`  ${line}`), extraModules);
    if (exit !== DRILL_EXIT.passed && worst !== DRILL_EXIT.failed) worst = exit;
  }
  return worst;
}
