/**
 * The EventBridge event as Lambda receives it from a rule, in zod's small
 * build. Powertools' parser has the same schema, but built with the full
 * zod, which would cost every cold start the tens of milliseconds
 * `zod/mini` saves (see lambdas/core/zod-messages.ts).
 */
import * as z from 'zod/mini';
import '../core/zod-messages';

/**
 * Field for field Powertools' `EventBridgeSchema` (`@aws-lambda-powertools/parser/schemas/eventbridge`),
 * as a shape: each event schema spreads it into its own `z.object`, built
 * when that schema is first used rather than when the bundle loads (see
 * lambdas/core/settings.ts).
 */
export const eventBridgeShape = () => ({
  version: z.string(),
  id: z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  'detail-type': z.string(),
  detail: z.unknown(),
  'replay-name': z.optional(z.string()),
});

/** The EventBridge event, any detail; built at its first parse. */
export const EventBridgeSchema = z.lazy(() => z.object(eventBridgeShape()));
