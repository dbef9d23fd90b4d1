/**
 * The probe function's contract and its guard. The function runs inside the
 * drill network with a way out to the drill databases' ports only; the
 * guard makes sure it can be pointed at nothing else either: a request is
 * strictly one engine, one address and one port, and an address that does
 * not resolve, wholly, inside the drill VPC's CIDR is refused before any
 * packet is sent, so the function cannot become a port scanner of anything
 * its network might reach.
 */
import * as z from 'zod/mini';
import '../zod-messages';
import { BunkerError } from '../errors';
import type { EngineAnswer, EngineProbeRequest } from './probe';

/** A request the probe function refused to act on (malformed): a function error, not an answer. */
export class ProbeRequestError extends BunkerError {}

/** An RDS endpoint: a DNS name or an IPv4 address. */
const Address = z
  .string()
  .check(z.minLength(1), z.maxLength(253), z.regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/));

export const EngineProbeRequestSchema = z.strictObject({
  engine: z.string().check(z.regex(/^[a-z0-9-]{1,40}$/)),
  address: Address,
  port: z.int().check(z.minimum(1), z.maximum(65535)),
  database: z.optional(z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9_$#.-]{0,63}$/))),
});

/** The probe function's answer, as the drill function reads it back: nothing more, nothing less. */
export const EngineAnswerSchema = z.strictObject({
  answered: z.boolean(),
  detail: z.string().check(z.maxLength(2000)),
  serverVersion: z.optional(z.string().check(z.maxLength(200))),
});

export function parseProbeRequest(event: unknown): EngineProbeRequest {
  const result = EngineProbeRequestSchema.safeParse(event);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`);
    throw new ProbeRequestError(`invalid probe request: ${problems.join('; ')}`);
  }
  return result.data;
}

export function parseEngineAnswer(payload: unknown): EngineAnswer {
  const result = EngineAnswerSchema.safeParse(payload);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'answer'}: ${issue.message}`);
    throw new BunkerError(`the probe function answered something else than an engine answer: ${problems.join('; ')}`);
  }
  return result.data;
}

const ipv4 = (text: string): number | undefined => {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
};

/** Whether an IPv4 address lies in an IPv4 CIDR block; anything else (IPv6 included) does not. */
export function insideCidr(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const network = ipv4(base);
  const ip = ipv4(address);
  const size = Number(bits);
  if (network === undefined || ip === undefined || !Number.isInteger(size) || size < 0 || size > 32) return false;
  const block = 2 ** (32 - size);
  return Math.floor(ip / block) === Math.floor(network / block);
}

/**
 * The addresses to probe, when every address the endpoint resolves to is
 * inside the drill network; else the answer that refuses it. The probe then
 * connects to a resolved address, not to the name again, so a second
 * lookup cannot point it elsewhere.
 */
export function guardAddresses(
  request: EngineProbeRequest,
  resolved: readonly string[],
  cidr: string,
): { ok: true; address: string } | { ok: false; answer: EngineAnswer } {
  const outside = resolved.filter((address) => !insideCidr(address, cidr));
  if (resolved.length === 0 || outside.length > 0) {
    return {
      ok: false,
      answer: {
        answered: false,
        detail:
          resolved.length === 0
            ? `refused: ${request.address} does not resolve`
            : `refused: ${request.address} resolves outside the drill network ${cidr} (${outside.join(', ')}); the probe asks only the drill databases`,
      },
    };
  }
  return { ok: true, address: resolved[0] };
}
