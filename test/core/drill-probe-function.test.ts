/**
 * The probe function (lambdas/handlers/drill-probe.ts) and the drill
 * function's side of it (lambdas/adapters/drill/probe-lambda.ts): the
 * function refuses any address outside the drill VPC's CIDR before a packet
 * is sent, validates its request strictly, and probes the resolved address;
 * the drill reads its answer back strictly. Also the AMI drill's reading of
 * EC2's status checks.
 */
import { createServer, type Server } from 'node:net';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LambdaEngineProbe } from '../../lambdas/adapters/drill/probe-lambda';
import { TcpEngineProbe } from '../../lambdas/adapters/drill/probe-tcp';
import { insideCidr } from '../../lambdas/core/drill/probe-request';
import { silentLog } from '../../lambdas/core/ports';
import { createProbeHandler } from '../../lambdas/handlers/drill-probe';
import { statusChecksProgress } from '../../lambdas/kinds/ami/drill';

let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  // A PostgreSQL that answers N, then asks for an MD5 password.
  server = createServer((socket) => {
    connections += 1;
    let step = 0;
    socket.on('error', () => {});
    socket.on('data', () =>
      socket.write(step++ === 0 ? 'N' : Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4])),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(() => server.close());

const handlerWith = (cidr: string, names: Record<string, string[]> = {}) =>
  createProbeHandler({
    cidr,
    resolve: async (address) => names[address] ?? [address],
    probe: new TcpEngineProbe({ connectTimeoutMs: 500, readTimeoutMs: 150 }),
    log: silentLog,
  });

describe('the probe function', () => {
  it('probes an address inside the drill network, by the address its name resolves to', async () => {
    const handler = handlerWith('127.0.0.0/8', { 'db.drill.internal': ['127.0.0.1'] });
    expect(await handler({ engine: 'postgres', address: 'db.drill.internal', port })).toEqual({
      answered: true,
      detail: 'PostgreSQL answered the SSLRequest with N and asks for an MD5 password',
    });
  });

  it('refuses an address outside the drill VPC CIDR, and connects to nothing', async () => {
    const before = connections;
    const handler = handlerWith('10.64.0.0/16', { 'db.elsewhere.example': ['10.64.0.9', '127.0.0.1'] });
    expect(await handler({ engine: 'postgres', address: '127.0.0.1', port })).toEqual({
      answered: false,
      detail:
        'refused: 127.0.0.1 resolves outside the drill network 10.64.0.0/16 (127.0.0.1); the probe asks only the drill databases',
    });
    // One of the name's addresses is outside: refused as a whole.
    expect((await handler({ engine: 'mysql', address: 'db.elsewhere.example', port })).answered).toBe(false);
    expect(
      await handlerWith('10.64.0.0/16', { 'gone.example': [] })({ engine: 'mysql', address: 'gone.example', port }),
    ).toEqual({
      answered: false,
      detail: 'refused: gone.example does not resolve',
    });
    expect(connections).toBe(before);
  });

  it('rejects a request that is not exactly an engine, an address, a port and a database name', async () => {
    const handler = handlerWith('127.0.0.0/8');
    await expect(handler({ engine: 'postgres', address: '127.0.0.1', port, data: 'SELECT 1' })).rejects.toThrow(
      /^invalid probe request: /,
    );
    await expect(handler({ engine: 'postgres', address: '127.0.0.1', port: 70000 })).rejects.toThrow(/port/);
    await expect(handler({ engine: 'postgres', address: 'a b', port })).rejects.toThrow(/address/);
    await expect(handler('postgres://127.0.0.1')).rejects.toThrow(/invalid probe request/);
    // A database name is a name, not a connect descriptor of its own.
    await expect(
      handler({ engine: 'oracle-ee', address: '127.0.0.1', port, database: 'ORCL)(SERVER=DEDICATED' }),
    ).rejects.toThrow(/database/);
    expect((await handler({ engine: 'postgres', address: '127.0.0.1', port, database: 'ORCL' })).answered).toBe(true);
  });

  it('reads CIDR blocks as the VPC does', () => {
    expect(insideCidr('10.64.1.20', '10.64.0.0/16')).toBe(true);
    expect(insideCidr('10.65.0.1', '10.64.0.0/16')).toBe(false);
    expect(insideCidr('10.64.255.255', '10.64.0.0/16')).toBe(true);
    expect(insideCidr('169.254.169.254', '10.64.0.0/16')).toBe(false);
    expect(insideCidr('fd00::1', '10.64.0.0/16')).toBe(false);
    expect(insideCidr('10.64.0.1', 'not a cidr')).toBe(false);
  });
});

describe('the drill function invoking the probe (double: a LambdaClient answering fixed payloads)', () => {
  const clientAnswering = (answer: { FunctionError?: string; Payload?: unknown }) => {
    const sent: unknown[] = [];
    const client = {
      send: async (command: { input: { FunctionName: string; InvocationType: string; Payload: Uint8Array } }) => {
        sent.push({ ...command.input, Payload: JSON.parse(new TextDecoder().decode(command.input.Payload)) });
        return {
          ...(answer.FunctionError ? { FunctionError: answer.FunctionError } : {}),
          Payload: new TextEncoder().encode(JSON.stringify(answer.Payload)),
        };
      },
    } as unknown as LambdaClient;
    return { client, sent };
  };
  const request = { engine: 'mysql', address: 'db.drill.internal', port: 3306 };

  it('invokes the probe function synchronously with the request, and returns its answer', async () => {
    const { client, sent } = clientAnswering({
      Payload: { answered: true, detail: 'MySQL protocol 10 handshake from server 8.0.35', serverVersion: '8.0.35' },
    });
    expect(await new LambdaEngineProbe(client, 'bunker-drill-probe').answer(request)).toEqual({
      answered: true,
      detail: 'MySQL protocol 10 handshake from server 8.0.35',
      serverVersion: '8.0.35',
    });
    expect(sent).toEqual([{ FunctionName: 'bunker-drill-probe', InvocationType: 'RequestResponse', Payload: request }]);
  });

  it('throws on a function error and on an answer of any other shape, never reading them as "not answered"', async () => {
    const failed = clientAnswering({
      FunctionError: 'Unhandled',
      Payload: { errorMessage: 'invalid probe request: port' },
    });
    await expect(new LambdaEngineProbe(failed.client, 'p').answer(request)).rejects.toThrow(
      'the probe function p failed: invalid probe request: port',
    );
    const extra = clientAnswering({ Payload: { answered: true, detail: 'ok', rows: [] } });
    await expect(new LambdaEngineProbe(extra.client, 'p').answer(request)).rejects.toThrow(
      /answered something else than an engine answer/,
    );
    const wrongType = clientAnswering({ Payload: { answered: 'yes', detail: 'ok' } });
    await expect(new LambdaEngineProbe(wrongType.client, 'p').answer(request)).rejects.toThrow(/answered/);
  });
});

describe('the AMI drill and EC2 status checks', () => {
  it('is usable only when both checks are ok, fails when either is impaired, and waits otherwise', () => {
    expect(statusChecksProgress('i-1', 'ok', 'ok')).toEqual({
      state: 'usable',
      detail: 'instance i-1 running, status checks: instance ok, system ok',
    });
    expect(statusChecksProgress('i-1', 'impaired', 'ok').state).toBe('failed');
    expect(statusChecksProgress('i-1', 'ok', 'impaired').state).toBe('failed');
    expect(statusChecksProgress('i-1', 'initializing', 'ok').state).toBe('pending');
    expect(statusChecksProgress('i-1', 'insufficient-data', 'initializing').state).toBe('pending');
    expect(statusChecksProgress('i-1', undefined, undefined)).toEqual({
      state: 'pending',
      detail: 'instance i-1 running, status checks: instance unknown, system unknown',
    });
  });
});
