/**
 * The launcher's per-account DynamoDB clock (tools/moto/bunker_moto.py):
 * the account's change log, point-in-time recovery window and exports run
 * `offsetSeconds` ahead of the machine, so a test can make export windows of
 * 15 minutes and more without waiting for them. Offsets never go back.
 */
export async function advanceEmulatorClock(endpoint: string, account: string, offsetSeconds: number): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/bunker/clock`, {
    method: 'POST',
    body: JSON.stringify({ account, offsetSeconds }),
  });
  if (!response.ok) throw new Error(`the emulator refused the clock offset: ${await response.text()}`);
}
