import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Log } from '../core/ports';

/** The core's Log port on Powertools Logger (structured JSON in CloudWatch Logs). */
export function powertoolsLog(logger: Logger): Log {
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

/** A logger named by POWERTOOLS_SERVICE_NAME (set per function by the stacks), else by `fallback`. */
export function newLogger(fallback: string): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || fallback });
}

/** Metrics in the `Bunker` namespace, named like {@link newLogger}. */
export function newMetrics(fallback: string): Metrics {
  return new Metrics({ namespace: 'Bunker', serviceName: process.env.POWERTOOLS_SERVICE_NAME || fallback });
}
