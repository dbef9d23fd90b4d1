/**
 * The local AWS emulator: moto server, started through Bunker's launcher
 * (`tools/moto/bunker_moto.py`), which adds the cross-account RDS snapshot
 * sharing that moto lacks. Used by `make demo` and by the test suite's global
 * setup. The launcher's docstring says exactly what it adds to moto.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BunkerError } from '../../lambdas/core/errors';

/** A running emulator. */
export interface Emulator {
  /** Base URL for SDK clients' `endpoint`, such as `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly port: number;
  /** Stops the server and waits for its process to exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
  /** Port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  /** Receives every line the server prints (its request log and errors). */
  log?: (line: string) => void;
}

/** The emulator is not installed, did not start, or answered an admin call with an error. */
export class EmulatorError extends BunkerError {}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
/** How many stderr lines an error message quotes: enough for a Python traceback's tail. */
const STDERR_TAIL = 20;
/** Attempts when a port picked by us is taken before the server binds it (another process won the race). */
const PORT_ATTEMPTS = 3;

// The repository root, from this file's own location (cli/local/), so the
// emulator starts the same way whatever the working directory.
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = `${REPO_ROOT}.venv/bin/python`;
const LAUNCHER = `${REPO_ROOT}tools/moto/bunker_moto.py`;

/**
 * Starts the emulator on 127.0.0.1 and resolves once it answers HTTP.
 * The server dies with this Node process, even if Node is killed.
 *
 * @throws EmulatorError when the Python environment is missing (run `make deps`),
 *   or the server exits or does not answer within 30 s (the message quotes its last stderr lines).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  if (!existsSync(PYTHON)) {
    throw new EmulatorError(`The local AWS emulator is not installed (${PYTHON} is missing): run \`make deps\``);
  }
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await findFreePort());
    try {
      return await launch(port, options.log);
    } catch (error) {
      const portTaken = error instanceof EmulatorError && /address already in use/i.test(error.message);
      if (options.port !== undefined || !portTaken || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

/**
 * Clears every account's state in the emulator (`POST /moto-api/reset`).
 * Tests normally use fresh account ids instead, so they can share one server.
 */
export async function resetEmulator(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  if (!response.ok) {
    throw new EmulatorError(`Resetting the emulator at ${endpoint} failed: HTTP ${response.status}`);
  }
}

/** A port the OS reports free now; the server binds it moments later (see PORT_ATTEMPTS). */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new EmulatorError('No free port found'))));
    });
  });
}

async function launch(port: number, log: ((line: string) => void) | undefined): Promise<Emulator> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONUNBUFFERED: '1',
    BUNKER_MOTO_EXIT_ON_STDIN_EOF: '1',
    // Without a reader of the request log, the server leaves it out (errors are still printed).
    ...(log ? {} : { BUNKER_MOTO_QUIET: '1' }),
  };
  // MOTO_ACCOUNT_ID would put every request into one account and defeat the
  // cross-account setup (moto checks it before the access key).
  delete env.MOTO_ACCOUNT_ID;
  const child = spawn(PYTHON, [LAUNCHER, '-H', HOST, '-p', String(port)], {
    cwd: REPO_ROOT,
    env,
    // stdin is a pipe the server watches: it exits when the pipe closes,
    // that is when this Node process is gone (see bunker_moto.py).
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderrTail: string[] = [];
  forwardLines(child, 'stdout', (line) => log?.(line));
  forwardLines(child, 'stderr', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
    log?.(line);
  });

  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // A process that could not be spawned has no pid and never emits 'exit'.
    child.on('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
  // We never write to the server's stdin; a pipe closed by its exit is not an error.
  child.stdin?.on('error', () => undefined);
  // Normal exits of Node (including a test runner's teardown that forgot to
  // stop) must not leave the server behind; the stdin pipe covers the rest.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  exited.then(() => process.removeListener('exit', killOnExit));

  const endpoint = `http://${HOST}:${port}`;
  const describeFailure = (what: string): EmulatorError =>
    new EmulatorError(
      `The local AWS emulator ${what}.${stderrTail.length > 0 ? ` Last lines it printed:\n${stderrTail.join('\n')}` : ''}`,
    );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM'); // moto's server exits cleanly on SIGTERM
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  try {
    await waitUntilReady(endpoint, child, exited, describeFailure);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, port, stop };
}

async function waitUntilReady(
  endpoint: string,
  child: ChildProcess,
  exited: Promise<void>,
  describeFailure: (what: string) => EmulatorError,
): Promise<void> {
  let hasExited = false;
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new EmulatorError(`Could not start ${PYTHON}: ${error.message}`, { cause: error })),
    );
  });
  // Suppress unhandled rejection if we return before it settles.
  spawnFailed.catch(() => undefined);
  exited.then(() => {
    hasExited = true;
  });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    // Let the exit/error events of a server that failed at once land first.
    await Promise.race([spawnFailed, delay(100)]);
    if (hasExited) {
      throw describeFailure(
        `exited before it was ready (${child.exitCode !== null ? `exit code ${child.exitCode}` : `signal ${child.signalCode}`})`,
      );
    }
    try {
      // Cheap and served by moto itself, so a 200 means our server is up.
      const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      // Another process that grabbed the port could answer too: only a live child counts.
      if (response.ok && !hasExited) return;
    } catch {
      // Not listening yet.
    }
  }
  throw describeFailure(`did not answer at ${endpoint} within ${READY_TIMEOUT_MS / 1000} s`);
}

function forwardLines(child: ChildProcess, stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
  let pending = '';
  const source = child[stream];
  if (source === null) return;
  source.setEncoding('utf8');
  source.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(stripAnsi(line.replace(/\r$/, '')));
  });
  source.on('end', () => {
    if (pending !== '') onLine(stripAnsi(pending));
  });
}

/** werkzeug colours its banner; keep log files and error messages plain. */
function stripAnsi(line: string): string {
  // eslint-disable-next-line no-control-regex -- matching the ESC of ANSI colour codes is the point
  return line.replace(/\u001b\[[0-9;]*m/g, '');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
