/**
 * `bunker report --html FILE`: one self-contained page (no script, no
 * stylesheet or font from the network: it renders offline and in a mail
 * attachment) that answers "is everything backed up, and since when?":
 * freshness over time per source account and kind, drawn against the RPO;
 * the resources that breach or are at risk; and the newest copy of each.
 *
 * Freshness is computed from the inventory alone: at each sample time, the
 * age of each resource's newest copy that was available by then (aged from
 * when production took it, by the service's own time), and the worst of
 * them per account and kind. Every text that came from outside (names,
 * reasons) is HTML-escaped.
 */
import { writeFileSync } from 'node:fs';
import type { AwsContext } from '../lambdas/adapters/aws-context';
import type { InventoryRecord } from '../lambdas/core/inventory';
import type { PulledRecord } from '../lambdas/core/pull/types';
import { enabledKindRpos } from '../lib/config/runtime';
import type { BunkerConfig } from '../lib/config/schema';
import { backupContext, notFound } from './aws-session';
import { readInventory, readPulled } from './inventory';

/** A resource as the auditor judged it (structurally the auditor's `ResourceAudit`). */
export interface ReportResource {
  readonly kind: string;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  readonly rpoHours: number;
  readonly state: 'breach' | 'at-risk' | 'ok';
  readonly reason?: string;
  readonly detail?: string;
  readonly newestCopyAt?: string;
  readonly ageHours?: number;
}

export interface ReportInput {
  /** The deployment's name (`name` of the configuration). */
  readonly name: string;
  readonly generatedAt: Date;
  readonly sources: readonly { readonly account: string; readonly name?: string }[];
  /** RPO in hours per record kind (`rds-snapshot`, `ssm-parameter`, …) of the enabled kinds. */
  readonly rpoHours: Readonly<Record<string, number>>;
  readonly copies: readonly InventoryRecord[];
  readonly pulled: readonly PulledRecord[];
  /** The audit's judgement of every resource in scope; empty when no audit ran. */
  readonly resources: readonly ReportResource[];
  /** How far back the freshness charts go. @default 14 */
  readonly days?: number;
}

/** One point of a freshness series: the worst age at `at`, or `undefined` while nothing was copied yet. */
export interface FreshnessPoint {
  readonly at: number;
  readonly ageHours?: number;
}

const HOUR = 3_600_000;

/** When each resource got a copy of what production held at `takenAt`. */
interface Arrival {
  readonly account: string;
  readonly kind: string;
  readonly resource: string;
  /** When the copy became available in the vault. */
  readonly availableAt: number;
  /** When production took what the copy holds. */
  readonly takenAt: number;
}

function arrivals(copies: readonly InventoryRecord[], pulled: readonly PulledRecord[]): Arrival[] {
  const out: Arrival[] = [];
  for (const r of copies) {
    if (r.status !== 'available' || r.hop === 2 || !r.sourceAccount || r.kind === 'unknown') continue;
    const availableAt = Date.parse(r.completedAt ?? r.updatedAt);
    const takenAt = Date.parse(r.sourceCreatedAt ?? r.createdAt);
    if (Number.isNaN(availableAt) || Number.isNaN(takenAt)) continue;
    out.push({
      account: r.sourceAccount,
      kind: r.kind,
      resource: r.sourceResourceId ?? r.sourceId ?? r.artifactId,
      availableAt,
      takenAt,
    });
  }
  for (const r of pulled) {
    const pulledAt = Date.parse(r.latest?.pulledAt ?? '');
    if (Number.isNaN(pulledAt)) continue;
    // A pull confirms what the source held when it ran.
    out.push({
      account: r.sourceAccount,
      kind: r.kind,
      resource: r.sourceId,
      availableAt: pulledAt,
      takenAt: pulledAt,
    });
  }
  return out;
}

/**
 * Freshness per `account|kind`: at each sample time from `now - days` to
 * `now` (every `stepHours`), the largest age among the group's resources of
 * their newest copy available by then.
 */
export function freshnessSeries(
  copies: readonly InventoryRecord[],
  pulled: readonly PulledRecord[],
  now: Date,
  days = 14,
  stepHours = 6,
): Map<string, FreshnessPoint[]> {
  const groups = new Map<string, Map<string, Arrival[]>>();
  for (const a of arrivals(copies, pulled)) {
    const key = `${a.account}|${a.kind}`;
    const byResource = groups.get(key) ?? new Map<string, Arrival[]>();
    byResource.set(a.resource, [...(byResource.get(a.resource) ?? []), a]);
    groups.set(key, byResource);
  }
  const end = now.getTime();
  const samples: number[] = [];
  for (let t = end - days * 24 * HOUR; t <= end; t += stepHours * HOUR) samples.push(t);
  const series = new Map<string, FreshnessPoint[]>();
  for (const [key, byResource] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    series.set(
      key,
      samples.map((at) => {
        let worst: number | undefined;
        for (const list of byResource.values()) {
          const newest = list.filter((a) => a.availableAt <= at).reduce((m, a) => Math.max(m, a.takenAt), -Infinity);
          if (newest === -Infinity) continue;
          const age = (at - newest) / HOUR;
          worst = worst === undefined ? age : Math.max(worst, age);
        }
        return worst === undefined ? { at } : { at, ageHours: Math.round(worst * 10) / 10 };
      }),
    );
  }
  return series;
}

/** HTML text: every character that could open markup or an attribute escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const when = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

/** A line chart as inline SVG: the worst age over time, and the RPO as a dashed red line. */
function chart(points: readonly FreshnessPoint[], rpoHours: number | undefined, label: string): string {
  const width = 560;
  const height = 160;
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  const ages = points.flatMap((p) => (p.ageHours === undefined ? [] : [p.ageHours]));
  const top = Math.max(1, ...ages, (rpoHours ?? 0) * 1.25);
  const x0 = points[0]?.at ?? 0;
  const x1 = points.at(-1)?.at ?? 1;
  const x = (at: number) => pad.left + ((at - x0) / Math.max(1, x1 - x0)) * (width - pad.left - pad.right);
  const y = (age: number) => pad.top + (1 - age / top) * (height - pad.top - pad.bottom);
  const path = points
    .filter((p) => p.ageHours !== undefined)
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.at).toFixed(1)},${y(p.ageHours as number).toFixed(1)}`)
    .join(' ');
  // The newest point, marked: a series with one point draws no line.
  const last = points.filter((p) => p.ageHours !== undefined).at(-1);
  const latestDot = last
    ? `<circle class="latest" cx="${x(last.at).toFixed(1)}" cy="${y(last.ageHours as number).toFixed(1)}" r="3"><title>${last.ageHours} h</title></circle>`
    : '';
  const rpo =
    rpoHours === undefined
      ? ''
      : `<line class="rpo" x1="${pad.left}" x2="${width - pad.right}" y1="${y(rpoHours).toFixed(1)}" y2="${y(rpoHours).toFixed(1)}"/>` +
        `<text x="${width - pad.right}" y="${(y(rpoHours) - 3).toFixed(1)}" text-anchor="end" class="rpo-label">RPO ${rpoHours} h</text>`;
  return (
    `<svg role="img" aria-label="${escapeHtml(label)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<line class="axis" x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${height - pad.bottom}"/>` +
    `<line class="axis" x1="${pad.left}" x2="${width - pad.right}" y1="${height - pad.bottom}" y2="${height - pad.bottom}"/>` +
    `<text x="${pad.left - 4}" y="${pad.top + 8}" text-anchor="end">${Math.round(top)} h</text>` +
    `<text x="${pad.left - 4}" y="${height - pad.bottom}" text-anchor="end">0</text>` +
    `<text x="${pad.left}" y="${height - 6}">${when(x0)}</text>` +
    `<text x="${width - pad.right}" y="${height - 6}" text-anchor="end">${when(x1)}</text>` +
    rpo +
    (path
      ? `<path class="age" d="${path}"/>${latestDot}`
      : `<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no copy yet</text>`) +
    '</svg>'
  );
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d1d1f; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; display: inline-block; }
.verdict.ok { background: #e3f5e5; } .verdict.bad { background: #fde2e1; }
table { border-collapse: collapse; margin-top: 8px; } th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
tr.breach td { background: #fde2e1; } tr.at-risk td { background: #fff4d6; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; } figcaption { font-weight: 600; }
svg text { font-size: 10px; fill: #555; } .axis { stroke: #999; } .age { fill: none; stroke: #1f77b4; stroke-width: 2; }
.latest { fill: #1f77b4; } .rpo { stroke: #d62728; stroke-dasharray: 4 3; } .rpo-label { fill: #d62728; }
`;

/** The report as one HTML document. */
export function reportHtml(input: ReportInput): string {
  const days = input.days ?? 14;
  const series = freshnessSeries(input.copies, input.pulled, input.generatedAt, days);
  const sourceName = new Map(input.sources.map((s) => [s.account, s.name]));
  const accountLabel = (account: string) =>
    sourceName.get(account) ? `${sourceName.get(account)} (${account})` : account;
  const breaching = input.resources.filter((r) => r.state === 'breach');
  const atRisk = input.resources.filter((r) => r.state === 'at-risk');
  const verdict =
    input.resources.length === 0
      ? '<p class="verdict bad">No audit of the resources in scope: run the auditor (bunker status) first.</p>'
      : breaching.length > 0
        ? `<p class="verdict bad">${breaching.length} resource(s) outside their RPO, ${atRisk.length} at risk.</p>`
        : `<p class="verdict ok">Every resource in scope is within its RPO${atRisk.length > 0 ? `; ${atRisk.length} at risk` : ''}.</p>`;

  const charts = [...series]
    .map(([key, points]) => {
      const [account, kind] = key.split('|');
      const caption = `${accountLabel(account)}: ${kind}`;
      return (
        `<figure data-account="${escapeHtml(account)}" data-kind="${escapeHtml(kind)}">` +
        `<figcaption>${escapeHtml(caption)}</figcaption>${chart(points, input.rpoHours[kind], `freshness of ${caption}`)}</figure>`
      );
    })
    .join('\n');

  const rows = input.resources
    .map(
      (r) =>
        `<tr class="${r.state}" data-account="${escapeHtml(r.account)}" data-kind="${escapeHtml(r.kind)}">` +
        [
          r.state,
          r.kind,
          `${accountLabel(r.account)} ${r.region}`,
          r.resource,
          r.newestCopyAt ? when(Date.parse(r.newestCopyAt)) : 'never',
          r.ageHours === undefined ? '-' : `${r.ageHours} h`,
          `${r.rpoHours} h`,
          r.detail ?? r.reason ?? '',
        ]
          .map((cell) => `<td>${escapeHtml(cell)}</td>`)
          .join('') +
        '</tr>',
    )
    .join('\n');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Bunker ${escapeHtml(input.name)}: backup report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Bunker ${escapeHtml(input.name)}: is everything backed up, and since when?</h1>
<p>Generated ${escapeHtml(input.generatedAt.toISOString())} from the inventory of the backup account.</p>
${verdict}
<h2>Freshness over the last ${days} days</h2>
<p>The age of the oldest newest copy per source account and kind (blue), against the kind's RPO (dashed red).</p>
<div class="charts">
${charts || '<p>No copy in the inventory yet.</p>'}
</div>
<h2>Resources in scope</h2>
<table>
<thead><tr><th>State</th><th>Kind</th><th>Account</th><th>Resource</th><th>Newest copy (UTC)</th><th>Age</th><th>RPO</th><th>Reason</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="8">No audit yet.</td></tr>'}
</tbody>
</table>
</body>
</html>
`;
}

export interface ReportCommandOptions {
  readonly endpoint?: string;
  readonly profile?: string;
  /** Read the inventory as the vault's `<name>-operator` role, as `bunker status --operator` does. */
  readonly operator?: boolean;
  readonly days: number;
}

/** Reads the inventory (and the audit, when one is given) and writes the page to `file`. */
export async function writeReport(
  config: BunkerConfig,
  file: string,
  options: ReportCommandOptions,
  audit: (context: AwsContext) => Promise<readonly ReportResource[]> = async () => [],
): Promise<{ copies: number; pulled: number; resources: number }> {
  const context = await backupContext(config, options);
  const [copies, pulled, resources] = await Promise.all([
    readInventory(context, config.name, {}).catch((error: unknown) => {
      throw notFound(
        error,
        `the inventory table ${config.name}-inventory`,
        `account ${config.backup.account} ${context.region}`,
      );
    }),
    readPulled(context, config.name, {}),
    audit(context),
  ]);
  const rpoHours = Object.fromEntries(enabledKindRpos(config).map((k) => [k.kind, k.rpoHours]));
  writeFileSync(
    file,
    reportHtml({
      name: config.name,
      generatedAt: new Date(),
      sources: config.sources,
      rpoHours,
      copies,
      pulled,
      resources,
      days: options.days,
    }),
  );
  return { copies: copies.length, pulled: pulled.length, resources: resources.length };
}
