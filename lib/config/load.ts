import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { BunkerError } from '../../lambdas/core/errors';
import { type BunkerConfig, BunkerConfigSchema } from './schema';

/** The file read when no `--config` is given. */
export const DEFAULT_CONFIG_FILE = 'bunker.config.json';

/** The configuration file is missing, is not JSON, or breaks the schema. */
export class ConfigError extends BunkerError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid Bunker configuration in ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** `sources[0].regions[1]`, `(root)` for the document itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

/** One line per problem: the key path, then what was expected. */
export function formatConfigIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) => `${formatPath([...issue.path, key])}: unknown key (check its spelling against the schema)`,
      );
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.message === 'Invalid input') {
      return [`${formatPath(issue.path)}: expected one of the allowed shapes`];
    }
    return [`${formatPath(issue.path)}: ${issue.message}`];
  });
}

/** Validates an already-parsed document; `file` only names it in errors. */
export function parseConfig(document: unknown, file = DEFAULT_CONFIG_FILE): BunkerConfig {
  const result = BunkerConfigSchema.safeParse(document);
  if (!result.success) throw new ConfigError(file, formatConfigIssues(result.error.issues));
  return result.data;
}

/** Reads, parses and validates a configuration file. */
export function loadConfig(file = DEFAULT_CONFIG_FILE): BunkerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [
      code === 'ENOENT'
        ? '(root): file not found; pass --config FILE or create bunker.config.json (see bunker.config.example.json)'
        : `(root): cannot read the file (${code ?? String(error)})`,
    ]);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`(root): expected JSON (${(error as Error).message.replace(/\s+/g, ' ')})`]);
  }
  return parseConfig(document, file);
}
