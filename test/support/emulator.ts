import { inject } from 'vitest';

/**
 * Base URL of the emulator started once by ./global-setup for the whole run.
 * Use it with `clientConfig` from ./aws.
 */
export function emulatorEndpoint(): string {
  const endpoint = inject('emulatorEndpoint');
  if (!endpoint) {
    throw new Error('No emulator endpoint: run the tests with vitest.config.ts (its globalSetup starts the emulator)');
  }
  return endpoint;
}
