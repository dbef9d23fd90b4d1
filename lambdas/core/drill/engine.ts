/**
 * The drill engine: one step of one drill per call.
 *
 *   restoring ─► validating ─► tearing-down ─► done
 *       │             │              ▲
 *       └── failed ───┴──────────────┘
 *
 * A step reads the {@link DrillState}, asks the kind's {@link DrillModule}
 * one thing, and answers the next state with how long to wait before the
 * next step. In AWS a Step Functions state machine calls it in a loop with
 * a Wait state in between (a restore outlasts a Lambda invocation); the CLI
 * against the emulator calls it in-process. Whatever fails, the drill goes
 * through tearing-down: a drill never leaves a restored database running
 * because a check threw.
 *
 * A step may be replayed (a retried Lambda, a redriven execution): every
 * module call is idempotent for the drill's id, a state with a handle never
 * starts again, and a finished drill answers itself.
 */
import type { Clock } from '../ports';
import { safeText } from '../text';
import type { DrillCheck, DrillKind, DrillLog, DrillModules, DrillResult, DrillState } from './types';

export interface DrillDeps {
  readonly modules: DrillModules;
  readonly log: DrillLog;
  readonly clock: Clock;
  /** Each kind's restore-time target, in seconds: a slower restore fails its drill. */
  readonly targetSeconds: Readonly<Partial<Record<DrillKind, number>>>;
  /** Announces a failed drill (the alerts topic). */
  alert(text: string): Promise<void>;
  /** `DrillsPassed` / `DrillsFailed`, by kind, when a drill ends. */
  metrics?(name: string, kind: DrillKind, value: number): void;
  /**
   * Whether a module's error is back-pressure (throttling, a quota): the
   * step is tried again after a wait instead of failing the drill, within
   * the same bounds as a pending restore. Unset: every error fails.
   */
  backPressure?(error: unknown): boolean;
}

/** The first wait of a pending restore or teardown; it doubles up to {@link MAX_WAIT_SECONDS}. */
export const FIRST_WAIT_SECONDS = 15;
export const MAX_WAIT_SECONDS = 60;
/**
 * A restore still pending this many times its target is given up: it has
 * failed its target anyway, and waiting up to there still measures how much
 * slower than the target it is, which is what an operator tunes by.
 */
export const GIVE_UP_AFTER_TARGETS = 2;
/** Teardown attempts before a drill reports what it left behind (about an hour at the longest wait). */
export const MAX_TEARDOWN_TRIES = 60;
/** When a kind has no target configured, restores are judged against a day. */
const DEFAULT_TARGET_SECONDS = 86_400;

const nextWait = (previous: number | undefined) =>
  previous === undefined || previous <= 0 ? FIRST_WAIT_SECONDS : Math.min(MAX_WAIT_SECONDS, previous * 2);

const minutes = (seconds: number) => `${Math.round((seconds / 60) * 10) / 10} min`;

/** An error from a module (often AWS's own words), bounded and without control characters. */
export function failureText(error: unknown): string {
  return safeText(error instanceof Error ? error.message || error.name : String(error), 300);
}

/** Advances `state` by one step. A finished drill is answered as it is. */
export async function advanceDrill(state: DrillState, deps: DrillDeps): Promise<DrillState> {
  if (state.done) return state;
  const module = deps.modules[state.subject.kind];
  if (!module) {
    return finish(state, deps, `no drill module for kind ${state.subject.kind} in this function`, true);
  }
  const { subject } = state;
  const now = deps.clock.now();
  const target = deps.targetSeconds[subject.kind] ?? DEFAULT_TARGET_SECONDS;

  if (state.phase === 'restoring') {
    if (!state.handle) {
      try {
        const handle = await module.start(state.drillId, subject);
        // The stopwatch starts with the restore, not with the plan: a drill may wait its turn.
        return { ...state, handle, startedAt: now.toISOString(), waitSeconds: FIRST_WAIT_SECONDS };
      } catch (error) {
        if (deps.backPressure?.(error) && !pastGiveUp(state, now, target)) return later(state);
        return toTearDown(state, `the restore could not start: ${failureText(error)}`);
      }
    }
    try {
      const progress = await module.progress(state.handle, subject);
      if (progress.state === 'usable') {
        return { ...state, phase: 'validating', usableAt: now.toISOString(), waitSeconds: 0 };
      }
      if (progress.state === 'failed')
        return toTearDown(state, `the restore failed: ${safeText(progress.detail, 300)}`);
      const elapsed = (now.getTime() - Date.parse(state.startedAt)) / 1000;
      if (pastGiveUp(state, now, target)) {
        return toTearDown(
          state,
          `not usable after ${minutes(elapsed)} (target ${minutes(target)}): ${safeText(progress.detail, 200)}`,
        );
      }
      return { ...state, waitSeconds: nextWait(state.waitSeconds) };
    } catch (error) {
      if (deps.backPressure?.(error) && !pastGiveUp(state, now, target)) return later(state);
      return toTearDown(state, `reading the restore failed: ${failureText(error)}`);
    }
  }

  if (state.phase === 'validating') {
    const seconds = restoreSeconds(state) ?? 0;
    const timed: DrillCheck = {
      name: 'restore time',
      ok: seconds <= target,
      detail: `usable after ${minutes(seconds)}, target ${minutes(target)}`,
    };
    let checks: DrillCheck[];
    try {
      checks = [...(await module.validate(state.handle ?? {}, subject)), timed];
    } catch (error) {
      if (deps.backPressure?.(error) && !pastGiveUp(state, now, target)) return later(state);
      return toTearDown({ ...state, checks: [timed] }, `validation could not finish: ${failureText(error)}`);
    }
    const failed = checks.filter((check) => !check.ok);
    return {
      ...state,
      phase: 'tearing-down',
      checks,
      waitSeconds: 0,
      ...(failed.length > 0
        ? { failure: `failed checks: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}` }
        : {}),
    };
  }

  if (state.phase === 'tearing-down') {
    let gone = false;
    let problem: string | undefined;
    try {
      gone = await module.tearDown(state.handle ?? {}, subject);
    } catch (error) {
      problem = failureText(error);
    }
    if (gone) return finish(state, deps, state.failure, true);
    const tries = (state.teardownTries ?? 0) + 1;
    if (tries >= MAX_TEARDOWN_TRIES) {
      const left = Object.entries(state.handle ?? {})
        .map(([what, id]) => `${what} ${id}`)
        .join(', ');
      const because = problem ? ` (${problem})` : '';
      const failure = [state.failure, `left behind: ${left || 'unknown'}${because}`].filter(Boolean).join('; ');
      return finish(state, deps, failure, false);
    }
    return { ...state, teardownTries: tries, waitSeconds: nextWait(state.waitSeconds) };
  }

  // `done` with done unset: a state written by hand; finish it as it says.
  return finish(state, deps, state.failure, true);
}

/** The same step again after a wait: AWS asked to slow down. */
function later(state: DrillState): DrillState {
  return { ...state, waitSeconds: nextWait(state.waitSeconds) };
}

/** The drill failed: what it made is torn down next. */
function toTearDown(state: DrillState, failure: string): DrillState {
  return { ...state, phase: 'tearing-down', failure, waitSeconds: 0 };
}

/** Whether the drill has run for {@link GIVE_UP_AFTER_TARGETS} times its target. */
function pastGiveUp(state: DrillState, now: Date, target: number): boolean {
  return (now.getTime() - Date.parse(state.startedAt)) / 1000 > target * GIVE_UP_AFTER_TARGETS;
}

function restoreSeconds(state: DrillState): number | undefined {
  if (!state.usableAt) return undefined;
  return Math.max(0, Math.round((Date.parse(state.usableAt) - Date.parse(state.startedAt)) / 1000));
}

/** Records the result, announces a failure, counts the outcome; the state is done. */
async function finish(
  state: DrillState,
  deps: DrillDeps,
  failure: string | undefined,
  tornDown: boolean,
): Promise<DrillState> {
  const finishedAt = deps.clock.now().toISOString();
  const seconds = restoreSeconds(state);
  const result: DrillResult = {
    drillId: state.drillId,
    subject: state.subject,
    outcome: failure ? 'failed' : 'passed',
    startedAt: state.startedAt,
    finishedAt,
    ...(seconds !== undefined ? { restoreSeconds: seconds } : {}),
    targetSeconds: deps.targetSeconds[state.subject.kind] ?? DEFAULT_TARGET_SECONDS,
    checks: state.checks ?? [],
    ...(failure ? { failure } : {}),
    tornDown,
  };
  await deps.log.record(result);
  deps.metrics?.(failure ? 'DrillsFailed' : 'DrillsPassed', state.subject.kind, 1);
  if (failure) await deps.alert(failureAlert(result));
  return { ...state, phase: 'done', done: true, waitSeconds: 0, ...(failure ? { failure } : {}) };
}

/** The alert of a failed drill: what, which copy, why. Identifiers and checks only, never a value. */
export function failureAlert(result: DrillResult): string {
  const { subject } = result;
  return [
    `Restore drill failed: ${subject.kind} ${subject.resource} of account ${subject.account} (${subject.region}).`,
    `Copy: ${subject.copyId} in ${subject.copyRegion} (${subject.pick} copy${subject.copiedFrom ? ` of ${subject.copiedFrom}` : ''}).`,
    `Why: ${result.failure ?? 'unknown'}.`,
    result.tornDown ? 'Everything the drill made is deleted.' : 'The drill could not delete everything it made.',
    `Drill: ${result.drillId}.`,
  ].join('\n');
}
