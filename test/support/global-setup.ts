/**
 * vitest global setup: one emulator for the whole run, shared by every test
 * file and worker. Tests isolate themselves with fresh account ids (see
 * `freshAccountId` in ./aws), so the server is never reset.
 */
import type { TestProject } from 'vitest/node';
import { startEmulator } from '../../cli/local/emulator';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the shared emulator; read it with `emulatorEndpoint()` from ./emulator. */
    emulatorEndpoint: string;
  }
}

/** Starts the emulator, provides its endpoint to tests, and returns the teardown that stops it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // No `log`: the request log is noise in test output, and a failed start
  // already quotes the server's last lines in its error.
  const emulator = await startEmulator();
  project.provide('emulatorEndpoint', emulator.endpoint);
  return async () => {
    await emulator.stop();
  };
}
