/**
 * Runs the `bunker` operator CLI (bin/bunker.ts) as a child process, the way
 * an operator does: `tsx bin/bunker.ts ARGS`, from the repository root.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = `${REPO_ROOT}node_modules/.bin/tsx`;

export interface CliResult {
  /** The exit code; `null` when the process was killed (see `signal`). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runBunker(
  args: readonly string[],
  timeoutMs = 45_000,
  env: Readonly<Record<string, string>> = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      ['bin/bunker.ts', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1', ...env },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, signal: error?.signal ?? null, stdout, stderr });
      },
    );
  });
}

/** For assertion messages: what the CLI printed. */
export function describeRun(result: CliResult): string {
  return `exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
