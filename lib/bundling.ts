/**
 * How a Bunker Lambda is bundled, in one place: the function construct
 * hands these options to NodejsFunction, and `bench/bundles.ts` and the
 * bundle tests build with the same ones, so what is measured and tested is
 * what is deployed.
 *
 * A function's bundle also depends on its settings: a kind the function
 * does not handle is left out, and with it the SDK client only that kind
 * needs (EC2 for EBS snapshots and AMIs). The code marks each such seam with
 * `process.env.BUNKER_BUNDLE_<NAME> === 'omit'`; the bundle defines that
 * expression as the literal `'omit'`, esbuild folds the condition and drops
 * the branch, and tree shaking drops the imports only that branch used.
 * Unbundled (tests, local mode) the variable is unset and everything is in.
 */
import { Token } from 'aws-cdk-lib';
import type { BuildOptions } from 'esbuild';
import { KIND_NAMES, type KindName } from '../lambdas/kinds/types';

/** The entry points under `lambdas/handlers/`, one file each. */
export const BUNKER_HANDLER_NAMES = [
  'intake',
  'completion',
  'sweep',
  'source-agent',
  'pull',
  'audit',
  'pruner',
  'enrolment',
  'drill',
] as const;
export type BunkerHandlerName = (typeof BUNKER_HANDLER_NAMES)[number];

/** The value a `BUNKER_BUNDLE_*` seam is defined as when its branch is left out. */
export const OMIT = 'omit';

/**
 * The esbuild options of every function, in esbuild's own words.
 *
 * - The AWS SDK v3 is bundled too (nothing external), so the versions in
 *   package-lock.json are the ones that run, not whatever the runtime ships;
 *   bundled, only the commands a function sends are in it.
 * - ESM with `mainFields: ['module', 'main']`: esbuild reads the SDK's and
 *   zod's ES module builds, which it tree-shakes (on by default when
 *   bundling to ESM); their CommonJS builds it could not.
 * - `target: 'node24'`: the functions run on `nodejs24.x`, the newest
 *   runtime aws-cdk-lib offers (`BUNKER_RUNTIME`), so no syntax is lowered
 *   for older engines.
 * - Minified, with names kept: Lambda and the logs report an error by its
 *   class name (SettingsError, not a minified one).
 * - Source maps, without the sources: a stack trace names the TypeScript
 *   line (`NODE_OPTIONS=--enable-source-maps`) and the map stays small.
 */
export const BUNKER_ESBUILD = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  keepNames: true,
  sourcemap: true,
  sourcesContent: false,
  external: [],
  // Some CommonJS dependencies call require() on Node built-ins; an ESM
  // bundle needs a require of its own for them.
  banner: {
    js: "import { createRequire as __bunkerCreateRequire } from 'node:module';const require = __bunkerCreateRequire(import.meta.url);",
  },
} as const satisfies BuildOptions;

/** The seam of one kind's copier: `process.env.BUNKER_BUNDLE_EBS_SNAPSHOT` for `ebs-snapshot`. */
export function kindSeam(kind: KindName): string {
  return `process.env.BUNKER_BUNDLE_${kind.toUpperCase().replaceAll('-', '_')}`;
}

/** The seam of the second Region's key lookup (the KMS client). */
export const SECOND_REGION_SEAM = 'process.env.BUNKER_BUNDLE_SECOND_REGION';

/** The vault functions that build copiers from `BUNKER_KINDS` (`lambdas/adapters/wiring.ts` `vaultDeps`). */
const VAULT_HANDLERS: readonly BunkerHandlerName[] = ['intake', 'completion', 'sweep'];

/**
 * What a function leaves out, read from the settings it is deployed with:
 * the vault functions omit the copiers of kinds that are not enabled and,
 * without a second Region, the KMS client; the source agent omits the EC2
 * side when neither EBS snapshots nor AMIs are in its scopes. A setting that
 * is missing, unresolved (a CDK token) or unreadable omits nothing: the
 * bundle then carries every kind, which is always correct, only larger.
 *
 * The pruner omits the kinds its `BUNKER_RETENTION` has no copy policy for
 * (it expires copies of those kinds only: their deleters and the copiers it
 * reads tags with), and the audit function the snapshot kinds its
 * `BUNKER_AUDIT` does not judge (their discovery): both settings list the
 * enabled kinds only, so an RDS-only pruner or auditor has no EC2 client.
 */
export function bundleDefines(
  handler: BunkerHandlerName,
  environment: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const omit = (seams: readonly string[]) => Object.fromEntries(seams.map((seam) => [seam, JSON.stringify(OMIT)]));
  if (VAULT_HANDLERS.includes(handler)) {
    const kinds = readJson(environment.BUNKER_KINDS) as Partial<Record<KindName, { enabled?: unknown }>> | undefined;
    if (!kinds) return {};
    const disabled = KIND_NAMES.filter((kind) => kinds[kind]?.enabled === false);
    const secondRegion = environment.BUNKER_SECOND_REGION;
    return omit([...disabled.map(kindSeam), ...(secondRegion === undefined ? [SECOND_REGION_SEAM] : [])]);
  }
  if (handler === 'source-agent') {
    const scopes = readJson(environment.BUNKER_SCOPES) as Partial<Record<KindName, unknown>> | undefined;
    if (!scopes) return {};
    return omit(KIND_NAMES.filter((kind) => scopes[kind] === undefined).map(kindSeam));
  }
  if (handler === 'pruner' || handler === 'audit') {
    const [variable, member] = handler === 'pruner' ? ['BUNKER_RETENTION', 'copies'] : ['BUNKER_AUDIT', 'kinds'];
    const kinds = (readJson(environment[variable]) as Record<string, unknown> | undefined)?.[member];
    if (typeof kinds !== 'object' || kinds === null) return {};
    const handled = kinds as Partial<Record<KindName, unknown>>;
    return omit(KIND_NAMES.filter((kind) => handled[kind] === undefined).map(kindSeam));
  }
  return {};
}

function readJson(text: string | undefined): object | undefined {
  if (text === undefined || Token.isUnresolved(text)) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The complete esbuild options of one function: {@link BUNKER_ESBUILD}, its
 * entry point and output file, and what its settings let it leave out.
 * `absWorkingDir` is the repository root, as NodejsFunction runs esbuild.
 */
export function handlerBuildOptions(
  repoRoot: string,
  handler: BunkerHandlerName,
  outfile: string,
  environment: Readonly<Record<string, string>> = {},
): BuildOptions {
  const define = bundleDefines(handler, environment);
  return {
    ...BUNKER_ESBUILD,
    external: [...BUNKER_ESBUILD.external],
    mainFields: [...BUNKER_ESBUILD.mainFields],
    entryPoints: [`lambdas/handlers/${handler}.ts`],
    absWorkingDir: repoRoot,
    outfile,
    ...(Object.keys(define).length > 0 ? { define } : {}),
  };
}
