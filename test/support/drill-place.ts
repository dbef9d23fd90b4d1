/**
 * The isolated place restore drills use, made on the emulator in a test
 * account the way the vault stack names it (`<prefix>-drill`: see
 * `createDrillPlace` in lambdas/adapters/drill/place.ts).
 */
import { localContext } from '../../cli/local/accounts';
import { createDrillPlace as createPlace } from '../../lambdas/adapters/drill/place';
import type { DrillPlace } from '../../lambdas/core/drill/settings';
import { DEFAULT_TEST_REGION, TEST_ROLE_NAME } from './aws';

export async function createDrillPlace(
  endpoint: string,
  account: string,
  prefix = 'bunker',
  region = DEFAULT_TEST_REGION,
): Promise<DrillPlace> {
  return createPlace(await localContext(endpoint, account, region, TEST_ROLE_NAME), prefix);
}
