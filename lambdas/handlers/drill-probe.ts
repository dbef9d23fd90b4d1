/**
 * Lambda: the engine probe, inside the drill network. The drill function
 * invokes it with `{ engine, address, port }` of a restored database; it
 * checks that the address lies in the drill VPC (`BUNKER_PROBE_CIDR`), plays
 * the first move of the engine's wire protocol (lambdas/core/drill/probe.ts)
 * and returns what answered. No credentials, no data read, and no AWS client
 * at all: its role may only write its logs and manage its network
 * interfaces, and its security group reaches only the drill databases'
 * ports.
 */
import { lookup } from 'node:dns/promises';
import * as z from 'zod/mini';
import { TcpEngineProbe } from '../adapters/drill/probe-tcp';
import { newLogger, powertoolsLog } from '../adapters/log';
import type { EngineAnswer, EngineProbe } from '../core/drill/probe';
import { guardAddresses, parseProbeRequest } from '../core/drill/probe-request';
import type { Log } from '../core/ports';
import { parseEnv } from '../core/settings';

export interface ProbeHandlerDeps {
  /** The drill VPC's CIDR block: the only addresses the probe asks. */
  readonly cidr: string;
  /** Every address a name resolves to (an IP address resolves to itself). */
  resolve(address: string): Promise<string[]>;
  readonly probe: EngineProbe;
  readonly log: Log;
}

export function createProbeHandler(deps: ProbeHandlerDeps) {
  return async (event: unknown): Promise<EngineAnswer> => {
    const request = parseProbeRequest(event);
    const resolved = await deps.resolve(request.address).catch(() => []);
    const guarded = guardAddresses(request, resolved, deps.cidr);
    if (!guarded.ok) {
      deps.log.warn('probe refused', { engine: request.engine, port: request.port, detail: guarded.answer.detail });
      return guarded.answer;
    }
    const answer = await deps.probe.answer({ ...request, address: guarded.address });
    deps.log.info('engine probed', { engine: request.engine, port: request.port, answered: answer.answered });
    return answer;
  };
}

const ProbeEnvSchema = z.object({
  BUNKER_PROBE_CIDR: z.string().check(z.regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/)),
});

let wired: ReturnType<typeof createProbeHandler> | undefined;

export const handler = (event: unknown) => {
  wired ??= createProbeHandler({
    cidr: parseEnv(ProbeEnvSchema, process.env, 'probe').BUNKER_PROBE_CIDR,
    resolve: async (address) =>
      (await lookup(address, { all: true, family: 4 })).map((found: { address: string }) => found.address),
    probe: new TcpEngineProbe(),
    log: powertoolsLog(newLogger('bunker-drill-probe')),
  });
  return wired(event);
};
