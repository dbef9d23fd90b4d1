/**
 * PLACEHOLDER so the vault stack synthesizes and bundles while the drill
 * handler is written elsewhere: the integrator takes the drill engineer's
 * `lambdas/handlers/drill.ts` over this file. It answers every payload of the
 * state machine's contract with an error, so nothing deployed from it can pass
 * for a drill.
 */
export function handler(event: { readonly action?: string }): Promise<never> {
  return Promise.reject(new Error(`the drill handler is not built yet (action ${String(event.action)})`));
}
