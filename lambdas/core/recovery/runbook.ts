/**
 * `bunker runbook`: the ordered recovery plan of one production account,
 * generated from what the vault actually holds.
 *
 * Order is by dependency, in three stages: keys and configuration first
 * (parameters, secrets: the data stores' applications and credentials are
 * configured from them), then the data stores (RDS, Aurora, DynamoDB), then
 * images and volumes (AMIs, EBS), which boot against the data stores. The
 * steps of one stage do not depend on each other and are meant to run in
 * parallel, so a stage takes as long as its slowest step and the expected
 * time to recovery is the sum of the stages' slowest steps: the critical
 * path.
 *
 * A step's time is the restore time its resources' last passed drill
 * measured; a resource never drilled (or never passed) counts with its
 * kind's restore-time target instead, and the step says so: an estimate is
 * not a measurement.
 */
import type { ArtifactKind } from '../../../lib/config/schema';
import type { DrillSummary } from '../drill/types';
import { safeText } from '../text';
import { COMMAND_VARIABLES, type CommandSettings, commandSteps } from './commands';
import type { RecoveryCopy } from './types';

export const RUNBOOK_STAGES: readonly { readonly name: string; readonly kinds: readonly ArtifactKind[] }[] = [
  { name: 'keys and configuration', kinds: ['ssm', 'secrets'] },
  { name: 'data stores', kinds: ['rds', 'aurora', 'dynamodb'] },
  { name: 'images and volumes', kinds: ['ami', 'ebs'] },
];

/** One resource of a step, with the copy restored and where its time comes from. */
export interface RunbookResource {
  readonly resource: string;
  readonly artifactId: string;
  readonly copyId: string;
  readonly copyRegion: string;
  readonly takenAt?: string;
  readonly seconds: number;
  /** `measured`: the last passed drill's restore time; `target`: not drilled, the kind's target stands in. */
  readonly basis: 'measured' | 'target';
  /** When the drill that measured it ran. */
  readonly drilledAt?: string;
}

export interface RunbookStep {
  /** `<stage>.<n>`: the stage's number and the step's within it. */
  readonly id: string;
  readonly kind: ArtifactKind;
  readonly sourceRegion: string;
  readonly title: string;
  readonly resources: readonly RunbookResource[];
  /**
   * The step's expected time: its resources' times added up (one command
   * restores them one after another; a single-resource step is that
   * resource's time).
   */
  readonly seconds: number;
  /** True when any resource's time is a target, not a measurement. */
  readonly estimated: boolean;
  readonly commands: readonly string[];
}

export interface RunbookStage {
  readonly order: number;
  readonly name: string;
  /** Every step of a stage can run at once. */
  readonly parallel: true;
  readonly steps: readonly RunbookStep[];
  /** The slowest step's time: how long the stage takes with its steps in parallel. */
  readonly seconds: number;
}

export interface Runbook {
  readonly account: string;
  readonly generatedAt: string;
  readonly toAccount?: string;
  readonly toRegion?: string;
  /** Shell variables the commands use, with what to set each to. */
  readonly variables: Readonly<Record<string, string>>;
  /** What opens the snapshot copies to the recovery account first (two people). */
  readonly before: readonly string[];
  readonly stages: readonly RunbookStage[];
  /** The sum of the stages' times: the expected time to recovery. */
  readonly criticalPathSeconds: number;
  /** Resources whose time is a target, not a measurement. */
  readonly notDrilled: number;
}

export interface RunbookInput {
  readonly copies: readonly RecoveryCopy[];
  readonly drills: readonly DrillSummary[];
  /** Each kind's restore-time target in minutes (`drills.restoreTargetMinutes`). */
  readonly targetMinutes: Readonly<Record<ArtifactKind, number>>;
  readonly settings: CommandSettings;
  readonly generatedAt: Date;
}

/** The plan for `input.settings.account`. */
export function buildRunbook(input: RunbookInput): Runbook {
  const { settings } = input;
  // A resource's first-hop and second-Region copies are drilled apart: each copy is timed by its own hop's drill.
  const drillOf = new Map(
    input.drills.map((d) => [`${d.kind}|${d.account}|${d.region}|${d.resource}|${d.hop === 2 ? d.copyRegion : ''}`, d]),
  );
  const timed = (copy: RecoveryCopy): RunbookResource => {
    const hop = copy.hop === 2 ? copy.copyRegion : '';
    const passed = drillOf.get(
      `${copy.kind}|${settings.account}|${copy.sourceRegion}|${copy.resource}|${hop}`,
    )?.lastPassed;
    const base = {
      resource: copy.resource,
      artifactId: copy.artifactId,
      copyId: copy.copyId,
      copyRegion: copy.copyRegion,
      ...(copy.takenAt ? { takenAt: copy.takenAt } : {}),
    };
    return passed?.restoreSeconds !== undefined
      ? { ...base, seconds: passed.restoreSeconds, basis: 'measured', drilledAt: passed.startedAt }
      : { ...base, seconds: input.targetMinutes[copy.kind] * 60, basis: 'target' };
  };
  const steps = commandSteps(input.copies, settings);
  const stages: RunbookStage[] = [];
  for (const [index, stage] of RUNBOOK_STAGES.entries()) {
    const order = index + 1;
    const mine = steps
      .filter((step) => stage.kinds.includes(step.kind))
      .sort(
        (a, b) =>
          stage.kinds.indexOf(a.kind) - stage.kinds.indexOf(b.kind) ||
          a.sourceRegion.localeCompare(b.sourceRegion) ||
          a.title.localeCompare(b.title),
      );
    if (mine.length === 0) continue;
    const built = mine.map((step, n): RunbookStep => {
      const resources = step.copies.map(timed);
      return {
        id: `${order}.${n + 1}`,
        kind: step.kind,
        sourceRegion: step.sourceRegion,
        title: step.title,
        resources,
        seconds: resources.reduce((sum, r) => sum + r.seconds, 0),
        estimated: resources.some((r) => r.basis === 'target'),
        commands: step.commands,
      };
    });
    stages.push({
      order,
      name: stage.name,
      parallel: true,
      steps: built,
      seconds: Math.max(...built.map((step) => step.seconds)),
    });
  }
  const used = new Set([
    'KMS_KEY',
    ...(settings.toAccount ? [] : ['TO_ACCOUNT']),
    ...(settings.toRegion ? [] : ['TO_REGION']),
  ]);
  const text = stages.flatMap((s) => s.steps.flatMap((step) => step.commands)).join('\n');
  for (const name of Object.keys(COMMAND_VARIABLES)) if (text.includes(`$${name}`)) used.add(name);
  const hasShares = input.copies.some((copy) => !['ssm', 'secrets', 'dynamodb'].includes(copy.kind));
  return {
    account: settings.account,
    generatedAt: input.generatedAt.toISOString(),
    ...(settings.toAccount ? { toAccount: settings.toAccount } : {}),
    ...(settings.toRegion ? { toRegion: settings.toRegion } : {}),
    variables: Object.fromEntries(Object.entries(COMMAND_VARIABLES).filter(([name]) => used.has(name))),
    before: hasShares
      ? [
          `bunker recover --request --account ${settings.account} --to-account ${settings.toAccount ?? '"$TO_ACCOUNT"'} ` +
            `--to-region ${settings.toRegion ?? '"$TO_REGION"'}`,
          'bunker recover --approve <id printed by the request>   # by another person',
        ]
      : [],
    stages,
    criticalPathSeconds: stages.reduce((sum, stage) => sum + stage.seconds, 0),
    notDrilled: stages.reduce(
      (n, stage) =>
        n + stage.steps.reduce((m, step) => m + step.resources.filter((r) => r.basis === 'target').length, 0),
      0,
    ),
  };
}

/** Seconds as people read a duration: `45 s`, `12 min`, `1 h 05 min`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Markdown text: what came from outside is escaped, commands are in code blocks. */
const md = (text: string) => safeText(text, 1000).replace(/([\\`*_[\]<>|])/g, '\\$1');

/** Text inside a code span: no backtick can end it early. */
const code = (text: string) => safeText(text, 1000).replace(/`/g, "'");

/** The runbook for people. */
export function runbookMarkdown(runbook: Runbook): string {
  if (runbook.stages.length === 0) {
    return `# Recovery runbook for account ${runbook.account}\n\nGenerated ${runbook.generatedAt}: the vault holds no copy of this account.\n`;
  }
  const lines: string[] = [
    `# Recovery runbook for account ${runbook.account}`,
    '',
    `Generated ${runbook.generatedAt} from the inventory. Expected time to recovery along the critical path: ` +
      `**${formatDuration(runbook.criticalPathSeconds)}**` +
      (runbook.notDrilled > 0
        ? ` (${runbook.notDrilled} resource(s) not drilled: their kind's target is used, marked *estimate*).`
        : ' (every time measured by a passed drill).'),
    '',
  ];
  lines.push('## Before you start', '', 'Set these shell variables:', '', '```sh');
  for (const [name, what] of Object.entries(runbook.variables)) lines.push(`${name}=   # ${what}`);
  lines.push('```', '');
  if (runbook.before.length > 0) {
    lines.push('Open the snapshot copies to the recovery account (two people, in the backup account):', '', '```sh');
    lines.push(...runbook.before, '```', '');
  }
  for (const stage of runbook.stages) {
    lines.push(
      `## Stage ${stage.order}: ${stage.name} (${formatDuration(stage.seconds)}; ${stage.steps.length} step(s) in parallel)`,
      '',
    );
    for (const step of stage.steps) {
      lines.push(
        `### ${step.id} ${md(step.title)}: ${formatDuration(step.seconds)}${step.estimated ? ' (estimate)' : ''}`,
        '',
      );
      for (const r of step.resources) {
        const time =
          r.basis === 'measured'
            ? `restored in ${formatDuration(r.seconds)} by the drill of ${r.drilledAt}`
            : `not drilled: target ${formatDuration(r.seconds)} (estimate)`;
        lines.push(
          `- ${md(r.resource)}: copy \`${code(r.copyId)}\` in ${r.copyRegion}${r.takenAt ? ` of ${r.takenAt}` : ''}; ${time}`,
        );
      }
      lines.push('', '```sh', ...step.commands.map((command) => safeText(command, 10_000)), '```', '');
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The runbook for tools. */
export function runbookJson(runbook: Runbook): string {
  return `${JSON.stringify(runbook, null, 2)}\n`;
}
