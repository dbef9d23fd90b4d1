/**
 * The drill function's three actions, as the vault stack's state machine
 * calls them (the payloads are its contract):
 *
 * - `{ "action": "plan", "scheduled"?, "kind"?, "account"?, "resource"? }`
 *   → `{ "drills": DrillState[] }`: what to restore now.
 * - `{ "action": "advance", "state": DrillState }` → `DrillState`: one step.
 * - `{ "action": "check" }` → `{ "stale": [...] }`: how long each kind and
 *   source account has gone without a proven restore, as metrics, with an
 *   alert when any is past `maxAgeDays`.
 */
import type { Clock } from '../ports';
import { advanceDrill, type DrillDeps } from './engine';
import { copiedResources, drillKindOf, type PlanInput, planDrills, type StaleScope, staleness } from './plan';
import type { DrillSettings } from './settings';
import type { DrillKind, DrillLog, DrillPhase, DrillState } from './types';

export interface PlanRequest {
  readonly action: 'plan';
  /** A scheduled run: also one random older copy per resource, when the config's `olderCopies` says so. */
  readonly scheduled?: boolean;
  readonly kind?: string;
  readonly account?: string;
  readonly resource?: string;
}
export type DrillRequest =
  PlanRequest | { readonly action: 'advance'; readonly state: DrillState } | { readonly action: 'check' };

export interface CheckAnswer {
  readonly stale: readonly StaleScope[];
}

export interface DrillActionDeps {
  readonly settings: DrillSettings;
  readonly clock: Clock;
  readonly log: DrillLog;
  /** The inventory's copies and held resources; with `older`, the held resources' stored versions. */
  planInput(older: boolean): Promise<PlanInput>;
  readonly random: () => number;
  readonly retentionDays?: Partial<Record<DrillKind, number>>;
  /** The engine's deps but for what is above. */
  readonly engine: Pick<DrillDeps, 'modules' | 'alert' | 'metrics' | 'backPressure'>;
  /** A metric without a kind dimension (`StaleDrillSources`). */
  metric?(name: string, value: number, dimensions?: Readonly<Record<string, string>>): void;
}

export class DrillRequestError extends Error {}

const PHASES: readonly DrillPhase[] = ['restoring', 'validating', 'tearing-down', 'done'];

/** The request, checked: the state machine's input is ours, but a hand-started execution is not. */
export function parseDrillRequest(input: unknown): DrillRequest {
  const event = (input ?? {}) as Record<string, unknown>;
  const text = (key: string) => {
    const value = event[key];
    if (value !== undefined && typeof value !== 'string') throw new DrillRequestError(`${key}: expected a string`);
    return value as string | undefined;
  };
  if (event.action === 'plan') {
    if (event.scheduled !== undefined && typeof event.scheduled !== 'boolean') {
      throw new DrillRequestError('scheduled: expected true or false');
    }
    const kind = text('kind');
    if (kind !== undefined && !drillKindOf(kind) && !isDrillKind(kind))
      throw new DrillRequestError(`kind: unknown kind ${kind}`);
    return {
      action: 'plan',
      scheduled: event.scheduled === true,
      kind,
      account: text('account'),
      resource: text('resource'),
    };
  }
  if (event.action === 'advance') {
    const state = event.state as Partial<DrillState> | undefined;
    if (
      !state ||
      typeof state.drillId !== 'string' ||
      typeof state.startedAt !== 'string' ||
      !state.subject ||
      !isDrillKind(state.subject.kind) ||
      !PHASES.includes(state.phase as DrillPhase)
    ) {
      throw new DrillRequestError('state: expected a drill state as plan or advance answered it');
    }
    return { action: 'advance', state: state as DrillState };
  }
  if (event.action === 'check') return { action: 'check' };
  throw new DrillRequestError(`action: expected plan, advance or check, got ${JSON.stringify(event.action)}`);
}

const DRILL_KINDS: readonly DrillKind[] = ['rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb'];
const isDrillKind = (kind: unknown): kind is DrillKind => DRILL_KINDS.includes(kind as DrillKind);

/** The drills a plan request asks for. */
export async function planRequested(request: PlanRequest, deps: DrillActionDeps): Promise<DrillState[]> {
  const older = request.scheduled === true && deps.settings.olderCopies;
  const kind =
    request.kind === undefined ? undefined : isDrillKind(request.kind) ? request.kind : drillKindOf(request.kind);
  // The drill log says which resources waited longest: a capped run takes them first.
  const drilled = deps.settings.maxPerRun === undefined ? [] : await deps.log.latest();
  return planDrills(
    { ...(await deps.planInput(older)), drilled },
    {
      now: deps.clock.now(),
      backupRegion: deps.settings.backupRegion,
      ...(deps.settings.secondRegion ? { secondRegion: deps.settings.secondRegion } : {}),
      kinds: deps.settings.kinds,
      older,
      random: deps.random,
      ...(deps.settings.maxPerRun !== undefined ? { maxPerRun: deps.settings.maxPerRun } : {}),
      ...(deps.retentionDays ? { retentionDays: deps.retentionDays } : {}),
      ...(kind ? { kind } : {}),
      ...(request.account ? { account: request.account } : {}),
      ...(request.resource ? { resource: request.resource } : {}),
    },
  );
}

export function engineDeps(deps: DrillActionDeps): DrillDeps {
  return { ...deps.engine, log: deps.log, clock: deps.clock, targetSeconds: deps.settings.targetSeconds };
}

/** Staleness as metrics and, when anything is stale, one alert. */
export async function checkStaleness(deps: DrillActionDeps): Promise<CheckAnswer> {
  const now = deps.clock.now();
  const input = await deps.planInput(false);
  const copies = copiedResources(input, deps.settings).filter((c) => deps.settings.kinds.includes(c.kind));
  const report = staleness(await deps.log.latest(), copies, deps.settings, now);
  for (const scope of report.byKind) deps.metric?.('DaysSinceProvenRestore', scope.days, { Kind: scope.key });
  deps.metric?.('StaleDrillSources', report.byAccount.filter((s) => s.stale).length);
  if (report.stale.length > 0) {
    await deps.engine.alert(
      [
        `No successful restore drill for more than ${deps.settings.maxAgeDays} days:`,
        ...report.stale.map(
          (s) => `- ${s.by === 'kind' ? 'kind' : 'source account'} ${s.key}: ${s.days} days (longest: ${s.resource})`,
        ),
        'Run `bunker drill` (with --kind or --account) to prove them restorable, and see `bunker status`.',
      ].join('\n'),
    );
  }
  return { stale: report.stale };
}

/** One action. */
export async function runDrillAction(
  request: DrillRequest,
  deps: DrillActionDeps,
): Promise<{ drills: DrillState[] } | DrillState | CheckAnswer> {
  if (request.action === 'plan') return { drills: await planRequested(request, deps) };
  if (request.action === 'advance') return advanceDrill(request.state, engineDeps(deps));
  return checkStaleness(deps);
}
