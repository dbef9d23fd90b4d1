/**
 * The engine probe over plain TCP (node:net): the local mode runs it
 * in-process against the endpoint the emulator reports, and the probe
 * function runs it inside the drill network in AWS. Every wait is bounded
 * (the connect and each read), so an endpoint that never answers costs a
 * few seconds, never a hung drill step.
 */
import { Socket } from 'node:net';
import {
  type EngineAnswer,
  type EngineProbe,
  type EngineProbeRequest,
  type ExchangeEnd,
  type ProbeConnection,
  probeEngine,
} from '../../core/drill/probe';

export interface TcpProbeOptions {
  /** Longest wait for the TCP connection. */
  readonly connectTimeoutMs?: number;
  /** Longest wait for an answer once the request is sent. */
  readonly readTimeoutMs?: number;
}

/** A few seconds: an engine that is up answers its greeting in milliseconds. */
export const PROBE_CONNECT_TIMEOUT_MS = 3000;
export const PROBE_READ_TIMEOUT_MS = 3000;
/** More than any greeting: a peer that streams is cut off, not read to the end. */
const MAX_ANSWER_BYTES = 64 * 1024;

export class TcpEngineProbe implements EngineProbe {
  constructor(private readonly options: TcpProbeOptions = {}) {}

  answer(request: EngineProbeRequest): Promise<EngineAnswer> {
    return probeEngine(request.engine, () => this.dial(request.address, request.port), request.database);
  }

  /** One connection to address:port, or a rejection that says why in words. */
  dial(address: string, port: number): Promise<ProbeConnection> {
    const connectMs = this.options.connectTimeoutMs ?? PROBE_CONNECT_TIMEOUT_MS;
    const readMs = this.options.readTimeoutMs ?? PROBE_READ_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to port ${port} timed out after ${connectMs} ms`));
      }, connectMs);
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(error.code === 'ECONNREFUSED' ? `port ${port} refused the connection` : error.message));
      });
      socket.connect(port, address, () => {
        clearTimeout(timer);
        resolve(new SocketConnection(socket, readMs));
      });
    });
  }
}

/** A connected socket, read into a buffer that each exchange drains. */
class SocketConnection implements ProbeConnection {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly readMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      if (this.buffered.length < MAX_ANSWER_BYTES) this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    // A reset after connecting ends the read like a close; the exchange reports what arrived.
    socket.on('error', end);
  }

  async exchange(
    send: Uint8Array | undefined,
    complete: (received: Uint8Array) => boolean,
  ): Promise<{ received: Uint8Array; end: ExchangeEnd }> {
    if (send && !this.ended) this.socket.write(send);
    const deadline = Date.now() + this.readMs;
    let end: ExchangeEnd = 'timeout';
    for (;;) {
      if (complete(this.buffered) || this.buffered.length >= MAX_ANSWER_BYTES) {
        end = 'complete';
        break;
      }
      if (this.ended) {
        end = 'closed';
        break;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const received = new Uint8Array(this.buffered);
    this.buffered = Buffer.alloc(0);
    return { received, end };
  }

  close(): void {
    this.socket.destroy();
  }
}
