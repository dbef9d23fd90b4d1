/**
 * The chart of `make bench`: copies in flight per pool over time, against
 * the pool's quota (dashed), one panel per pool so Aurora's 5 is as legible
 * as the AMIs' 100. Hand-written SVG: a few dozen lines, renders offline
 * anywhere, and no charting dependency to install for one picture.
 */

export interface ChartSeries {
  readonly pool: string;
  readonly quota: number;
  /** `[seconds, copies]` at every change (a step function). */
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 900;
const PANEL = 150;
const GAP = 40;
const LEFT = 60;
const RIGHT = 20;
const TOP = 40;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The step function sampled at most `buckets` times over `[0, end]`, each
 * sample the highest value in its bucket, so a short peak is never drawn away.
 */
export function downsample(
  points: readonly (readonly [number, number])[],
  end: number,
  buckets: number,
): [number, number][] {
  const width = end / buckets;
  const out: [number, number][] = [];
  let i = 0;
  let current = 0;
  for (let b = 0; b < buckets; b += 1) {
    const to = (b + 1) * width;
    let high = current;
    while (i < points.length && points[i][0] < to) {
      current = points[i][1];
      high = Math.max(high, current);
      i += 1;
    }
    out.push([b * width, high]);
  }
  return out;
}

/** An SVG document of `series` over `[0, endSeconds]`, titled `title`. */
export function inFlightChart(title: string, series: readonly ChartSeries[], endSeconds: number): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const height = TOP + series.length * (PANEL + GAP) + 10;
  const hours = endSeconds / 3600;
  const x = (s: number) => LEFT + (endSeconds > 0 ? (s / endSeconds) * plotWidth : 0);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  const tickHours = hours <= 12 ? 1 : hours <= 48 ? 4 : hours <= 120 ? 12 : 24;
  for (const [index, s] of series.entries()) {
    const top = TOP + index * (PANEL + GAP);
    const bottom = top + PANEL;
    const yMax = Math.max(s.quota, ...s.points.map(([, n]) => n)) * 1.1 || 1;
    const y = (n: number) => bottom - (n / yMax) * PANEL;
    parts.push(
      `<text x="${LEFT}" y="${top - 6}" font-weight="bold">${escape(s.pool)}</text>`,
      `<line x1="${LEFT}" y1="${bottom}" x2="${LEFT + plotWidth}" y2="${bottom}" stroke="black"/>`,
      `<line x1="${LEFT}" y1="${top}" x2="${LEFT}" y2="${bottom}" stroke="black"/>`,
      `<text x="14" y="${(top + bottom) / 2}" transform="rotate(-90 14 ${(top + bottom) / 2})" text-anchor="middle">copies in flight</text>`,
    );
    for (const n of [0, s.quota]) {
      parts.push(`<text x="${LEFT - 6}" y="${y(n) + 4}" text-anchor="end">${n}</text>`);
    }
    for (let h = 0; h <= hours; h += tickHours) {
      parts.push(
        `<line x1="${x(h * 3600)}" y1="${bottom}" x2="${x(h * 3600)}" y2="${bottom + 4}" stroke="black"/>`,
        `<text x="${x(h * 3600)}" y="${bottom + 16}" text-anchor="middle">${h} h</text>`,
      );
    }
    parts.push(
      `<line x1="${LEFT}" y1="${y(s.quota)}" x2="${LEFT + plotWidth}" y2="${y(s.quota)}" stroke="#c0392b" stroke-dasharray="6 4"/>`,
      `<text x="${LEFT + plotWidth}" y="${y(s.quota) - 4}" text-anchor="end" fill="#c0392b">quota ${s.quota}</text>`,
    );
    const samples = downsample(s.points, endSeconds, Math.min(1500, plotWidth * 2));
    let d = '';
    for (const [i, [at, n]] of samples.entries()) {
      d += i === 0 ? `M${x(at).toFixed(1)},${y(n).toFixed(1)}` : `H${x(at).toFixed(1)}V${y(n).toFixed(1)}`;
    }
    d += `H${x(endSeconds).toFixed(1)}`;
    parts.push(`<path d="${d}" fill="none" stroke="#2471a3" stroke-width="1.2"/>`);
  }
  parts.push(
    `<text x="${LEFT + plotWidth / 2}" y="${height - 2}" text-anchor="middle">hours since the burst began</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
