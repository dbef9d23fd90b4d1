import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../core/ports';

/** The core's Log port on Powertools Logger (structured JSON in CloudWatch Logs). */
export function powertoolsLog(logger: Logger): Log {
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

export function newLogger(serviceName: string): Logger {
  return new Logger({ serviceName });
}
