/**
 * The engine probe in AWS: the drill function runs outside the drill
 * network, which has no way in from anywhere else, so it asks the probe
 * function inside it (lambdas/handlers/drill-probe.ts), synchronously, and
 * reads the answer back strictly. A function error is thrown on (the drill
 * step fails and says why), never read as "the engine did not answer".
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { BunkerError } from '../../core/errors';
import type { EngineAnswer, EngineProbe, EngineProbeRequest } from '../../core/drill/probe';
import { parseEngineAnswer } from '../../core/drill/probe-request';

export class LambdaEngineProbe implements EngineProbe {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async answer(request: EngineProbeRequest): Promise<EngineAnswer> {
    const { FunctionError, Payload } = await this.lambda.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(request)),
      }),
    );
    const text = Payload ? new TextDecoder().decode(Payload) : '';
    if (FunctionError) {
      const message = (() => {
        try {
          return String((JSON.parse(text) as { errorMessage?: unknown }).errorMessage ?? FunctionError);
        } catch {
          return FunctionError;
        }
      })();
      throw new BunkerError(`the probe function ${this.functionName} failed: ${message.slice(0, 300)}`);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new BunkerError(`the probe function ${this.functionName} answered no JSON`);
    }
    return parseEngineAnswer(payload);
  }
}

/** The probe where none is configured: every database drill says so, and fails. */
export const noProbe = (why: string): EngineProbe => ({
  answer: async () => ({ answered: false, detail: why }),
});
