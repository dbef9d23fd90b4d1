/**
 * The functions' bundles, measured: `bundleFigures()` bundles each handler
 * with the esbuild options the function construct deploys with
 * (`lib/bundling.ts`), and reports per function
 *
 * - `bytes`: the size of its `index.mjs` (the source map aside);
 * - `loadCpuMs`: CPU time (user + system) to import the bundle in a fresh
 *   `node`, median of several runs;
 * - `sdkBaselineLoadCpuMs`: the same, in the same run, for a bundle of only
 *   the AWS SDK clients and commands the function uses, built with the same
 *   options: what loading the function cannot go below while it bundles the
 *   SDK (the goal is `loadCpuMs` ≤ 1.3 × this);
 * - `loadRatio`: the function against its baseline measured in pairs, one
 *   fresh process of each back to back (ABBA: the order alternates), the
 *   median of the pairs' ratios. On a shared machine the load moves from
 *   one second to the next; a pair shares it, so its ratio is steadier than
 *   the ratio of two medians taken over the whole run;
 * - `handlerCpuMsPerMessage`: CPU per message of a warm handler over the
 *   in-memory doubles (`bench/handler-cpu.ts`; for the auditor, per resource
 *   judged, for the pruner, per copy expired, for the pull function, per SSM
 *   pull job of ten parameters of which one changed).
 *
 * The snapshot functions are measured as deployed with every kind enabled
 * (the heaviest bundles), and again as an RDS-only deployment builds them
 * (`<function>:rds-only`), which leaves the EC2 client out.
 *
 * `node_modules/.bin/tsx bench/bundles.ts` prints the table;
 * `--repeat N` measures N times and prints each function's range of load
 * ratios (a shared machine moves single figures by a tenth or more);
 * `--out DIR` only builds every bundle and its baseline into DIR and keeps
 * them (to profile one: `node --cpu-prof --enable-source-maps` importing it);
 * `--inputs` prints, per function, the packages and modules that weigh
 * most in its bundle beside its SDK baseline (esbuild's metafile), which is
 * where a load time above the baseline comes from.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { BUNKER_ESBUILD, type BunkerHandlerName, handlerBuildOptions } from '../lib/bundling';
import { KIND_NAMES, type KindName } from '../lambdas/kinds/types';
import { DRIVEN_HANDLERS } from './handler-cpu';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleFigures {
  readonly bytes: number;
  readonly loadCpuMs: number;
  readonly sdkBaselineLoadCpuMs: number;
  /** Median of the paired ratios `loadCpuMs / sdkBaselineLoadCpuMs`, one pair of fresh processes each. */
  readonly loadRatio: number;
  /** `null` for a function this benchmark has no per-message driver for. */
  readonly handlerCpuMsPerMessage: number | null;
}

export interface BundleFigureOptions {
  /** Pairs of fresh processes (the function, its baseline) per load figure; medians are reported. @default 11 */
  readonly runs?: number;
  /** Messages per handler CPU figure. @default 200 */
  readonly messages?: number;
}

/** One deployment of one function: the settings its bundle is built from. */
interface Variant {
  readonly key: string;
  readonly handler: BunkerHandlerName;
  readonly environment: Readonly<Record<string, string>>;
}

const kindsEnv = (enabled: readonly KindName[]) => ({
  BUNKER_KINDS: JSON.stringify(Object.fromEntries(KIND_NAMES.map((k) => [k, { enabled: enabled.includes(k) }]))),
});
const scopesEnv = (kinds: readonly KindName[]) => ({
  BUNKER_SCOPES: JSON.stringify(Object.fromEntries(kinds.map((k) => [k, { tag: { key: 'backup', value: 'daily' } }]))),
});
const RDS_ONLY: readonly KindName[] = ['rds-snapshot'];

const VARIANTS: readonly Variant[] = [
  ...(['intake', 'completion', 'sweep'] as const).map((handler) => ({
    key: handler,
    handler,
    environment: kindsEnv(KIND_NAMES),
  })),
  { key: 'source-agent', handler: 'source-agent', environment: scopesEnv(KIND_NAMES) },
  { key: 'pull', handler: 'pull', environment: {} },
  { key: 'audit', handler: 'audit', environment: {} },
  { key: 'pruner', handler: 'pruner', environment: {} },
  ...(['intake', 'completion', 'sweep'] as const).map((handler) => ({
    key: `${handler}:rds-only`,
    handler,
    environment: kindsEnv(RDS_ONLY),
  })),
  { key: 'source-agent:rds-only', handler: 'source-agent', environment: scopesEnv(RDS_ONLY) },
  // The pruner and the auditor leave out what their own settings do not name (lib/bundling.ts).
  {
    key: 'pruner:rds-only',
    handler: 'pruner',
    environment: {
      BUNKER_RETENTION: JSON.stringify({ copies: { 'rds-snapshot': { retentionDays: 35, minCopies: 1 } }, values: {} }),
    },
  },
  {
    key: 'audit:rds-only',
    handler: 'audit',
    environment: { BUNKER_AUDIT: JSON.stringify({ kinds: { 'rds-snapshot': { rpoHours: 24 } } }) },
  },
];

/** What the function imports from the AWS SDK, and the bundle still contains (keepNames keeps class names). */
function sdkImports(metafile: Metafile, bundleText: string): Map<string, Set<string>> {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint);
  if (!output) throw new Error('esbuild reported no entry point output');
  const byPackage = new Map<string, Set<string>>();
  for (const [path, input] of Object.entries(output.inputs)) {
    if (input.bytesInOutput === 0 || !path.startsWith('lambdas/')) continue;
    const source = readFileSync(join(REPO_ROOT, path), 'utf8');
    for (const [, names, pkg] of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/[^']+)'/g)) {
      for (const raw of names.split(',')) {
        const name = raw.trim();
        if (!name || name.startsWith('type ') || !new RegExp(`\\b${name}\\b`).test(bundleText)) continue;
        byPackage.set(pkg, (byPackage.get(pkg) ?? new Set()).add(name));
      }
    }
  }
  return byPackage;
}

/** An entry that exports exactly those SDK imports, so tree shaking keeps them and nothing else. */
function baselineSource(imports: Map<string, Set<string>>): string {
  return [...imports]
    .map(([pkg, names], i) => `export { ${[...names].map((n) => `${n} as p${i}_${n}`).join(', ')} } from '${pkg}';`)
    .join('\n');
}

/** CPU milliseconds of importing `file` in a fresh `node`, as Lambda starts it (source maps on). */
function importCpuMs(file: string): number {
  const script = `const s = process.cpuUsage(); await import(${JSON.stringify(pathToFileURL(file).href)}); const u = process.cpuUsage(s); process.stdout.write(String((u.user + u.system) / 1000));`;
  const out = execFileSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  return Number(out.toString());
}

interface PairedLoad {
  readonly functionMs: number;
  readonly baselineMs: number;
  readonly ratio: number;
}

/**
 * Each function against its baseline in `runs` pairs of fresh processes:
 * the two of a pair run back to back, the baseline first in even pairs and
 * second in odd ones (A B, B A, …), so neither is favoured by whatever the
 * machine does next; the rounds go over every function before the next
 * pair, so a burst of load on the machine spreads over all of them.
 */
function pairedLoads(pairs: readonly (readonly [string, string])[], runs: number): PairedLoad[] {
  const samples = pairs.map(() => ({ fn: [] as number[], base: [] as number[], ratio: [] as number[] }));
  for (let run = 0; run < runs; run++) {
    pairs.forEach(([fn, baseline], i) => {
      let f: number;
      let b: number;
      if (run % 2 === 0) {
        b = importCpuMs(baseline);
        f = importCpuMs(fn);
      } else {
        f = importCpuMs(fn);
        b = importCpuMs(baseline);
      }
      samples[i].fn.push(f);
      samples[i].base.push(b);
      samples[i].ratio.push(f / b);
    });
  }
  return samples.map((s) => ({ functionMs: median(s.fn), baselineMs: median(s.base), ratio: median(s.ratio) }));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Builds the handler CPU driver once, with the functions' options, and runs it in a fresh `node` per handler. */
async function handlerCpu(dir: string, messages: number): Promise<Map<string, number>> {
  const driver = join(dir, 'handler-cpu.mjs');
  await build({
    ...BUNKER_ESBUILD,
    external: [],
    mainFields: [...BUNKER_ESBUILD.mainFields],
    entryPoints: ['bench/handler-cpu.ts'],
    absWorkingDir: REPO_ROOT,
    outfile: driver,
    logLevel: 'error',
  });
  const perMessage = new Map<string, number>();
  for (const handler of DRIVEN_HANDLERS) {
    const out = execFileSync(process.execPath, [driver, handler, String(messages)], {
      env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_DEV: '' },
    });
    const result = JSON.parse(out.toString()) as { messages: number; cpuMs: number };
    perMessage.set(handler, result.cpuMs / result.messages);
  }
  return perMessage;
}

/** Where a package or module of the repository sits in the metafile: `zod`, `@smithy/core`, `lambdas/core/settings.ts`. */
function inputGroup(path: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return pkg ? pkg[1] : path;
}

/** Bytes in the output per {@link inputGroup}, largest first. */
function inputWeights(metafile: Metafile): [string, number][] {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint);
  const weights = new Map<string, number>();
  for (const [path, input] of Object.entries(output?.inputs ?? {})) {
    weights.set(inputGroup(path), (weights.get(inputGroup(path)) ?? 0) + input.bytesInOutput);
  }
  return [...weights].filter(([, bytes]) => bytes > 0).sort((a, b) => b[1] - a[1]);
}

interface BuiltVariant {
  readonly variant: Variant;
  readonly file: string;
  readonly baseline: string;
  /** Bytes per input group of the function's bundle, and of its SDK baseline. */
  readonly inputs: readonly [string, number][];
  readonly baselineInputs: readonly [string, number][];
}

/** Builds every variant and its SDK baseline into `dir`. */
async function buildVariants(dir: string): Promise<BuiltVariant[]> {
  return Promise.all(
    VARIANTS.map(async (variant) => {
      const file = join(dir, variant.key.replace(':', '-'), 'index.mjs');
      const result = await build({
        ...handlerBuildOptions(REPO_ROOT, variant.handler, file, variant.environment),
        metafile: true,
        logLevel: 'error',
      });
      if (!result.metafile) throw new Error('esbuild returned no metafile');
      const baseline = join(dir, variant.key.replace(':', '-'), 'baseline.mjs');
      const baselineBuild = await build({
        ...BUNKER_ESBUILD,
        external: [],
        mainFields: [...BUNKER_ESBUILD.mainFields],
        stdin: {
          contents: baselineSource(sdkImports(result.metafile, readFileSync(file, 'utf8'))),
          resolveDir: REPO_ROOT,
          sourcefile: `${variant.key}-sdk-baseline.ts`,
          loader: 'ts',
        },
        outfile: baseline,
        metafile: true,
        logLevel: 'error',
      });
      return {
        variant,
        file,
        baseline,
        inputs: inputWeights(result.metafile),
        baselineInputs: baselineBuild.metafile ? inputWeights(baselineBuild.metafile) : [],
      };
    }),
  );
}

export async function bundleFigures(options: BundleFigureOptions = {}): Promise<Record<string, BundleFigures>> {
  const runs = options.runs ?? 11;
  const dir = mkdtempSync(join(tmpdir(), 'bunker-bundle-figures-'));
  try {
    const built = await buildVariants(dir);
    const loads = pairedLoads(
      built.map((b) => [b.file, b.baseline] as const),
      runs,
    );
    const perMessage = await handlerCpu(dir, options.messages ?? 200);
    return Object.fromEntries(
      built.map((b, i) => [
        b.variant.key,
        {
          bytes: statSync(b.file).size,
          loadCpuMs: round(loads[i].functionMs),
          sdkBaselineLoadCpuMs: round(loads[i].baselineMs),
          loadRatio: Math.round(loads[i].ratio * 1000) / 1000,
          handlerCpuMsPerMessage: perMessage.has(b.variant.handler)
            ? Math.round((perMessage.get(b.variant.handler) ?? 0) * 1000) / 1000
            : null,
        },
      ]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figures as a table, with the goal's ratio. */
export function bundleTable(figures: Readonly<Record<string, BundleFigures>>): string {
  const rows = [['function', 'KiB', 'load ms', 'SDK alone ms', 'ratio', 'handler ms/msg']];
  for (const [name, f] of Object.entries(figures)) {
    rows.push([
      name,
      (f.bytes / 1024).toFixed(0),
      f.loadCpuMs.toFixed(1),
      f.sdkBaselineLoadCpuMs.toFixed(1),
      f.loadRatio.toFixed(2),
      f.handlerCpuMsPerMessage === null ? '-' : f.handlerCpuMsPerMessage.toFixed(3),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
    .join('\n');
}

/**
 * Per function, what its bundle holds beyond its SDK baseline: the input
 * groups (packages, repository modules) with more bytes in the function's
 * bundle than in the baseline's, the `top` largest.
 */
export async function bundleInputs(top = 12): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bunker-bundle-inputs-'));
  try {
    const lines: string[] = [];
    for (const b of await buildVariants(dir)) {
      const inBaseline = new Map(b.baselineInputs);
      const beyond = b.inputs
        .map(([group, bytes]) => [group, bytes - (inBaseline.get(group) ?? 0)] as const)
        .filter(([, bytes]) => bytes > 0)
        .sort((x, y) => y[1] - x[1]);
      const total = beyond.reduce((sum, [, bytes]) => sum + bytes, 0);
      lines.push(`${b.variant.key}: ${(total / 1024).toFixed(0)} KiB beyond the SDK baseline`);
      for (const [group, bytes] of beyond.slice(0, top)) {
        lines.push(`  ${(bytes / 1024).toFixed(1).padStart(6)} KiB  ${group}`);
      }
    }
    return lines.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each function's lowest and highest load ratio (the paired median, `loadRatio`) over `repeat` measurements. */
export function ratioSpread(measurements: readonly Readonly<Record<string, BundleFigures>>[]): string {
  const rows = [['function', 'ratio min', 'median', 'max']];
  for (const name of Object.keys(measurements[0] ?? {})) {
    const ratios = measurements.map((m) => m[name].loadRatio).sort((a, b) => a - b);
    rows.push([name, ratios[0].toFixed(2), median(ratios).toFixed(2), ratios[ratios.length - 1].toFixed(2)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
    .join('\n');
}

async function main(args: readonly string[]): Promise<void> {
  const out = args.indexOf('--out');
  if (out >= 0) {
    for (const b of await buildVariants(args[out + 1])) process.stdout.write(`${b.file}\n${b.baseline}\n`);
    return;
  }
  if (args.includes('--inputs')) {
    process.stdout.write(`${await bundleInputs()}\n`);
    return;
  }
  const at = args.indexOf('--repeat');
  const repeat = at >= 0 ? Number(args[at + 1]) : 1;
  const measurements: Record<string, BundleFigures>[] = [];
  for (let i = 0; i < repeat; i++) {
    const figures = await bundleFigures();
    measurements.push(figures);
    process.stdout.write(`${bundleTable(figures)}\n\n`);
  }
  if (repeat > 1) process.stdout.write(`${ratioSpread(measurements)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
