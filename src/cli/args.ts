/** Command-line parsing: the flags every command takes plus its own, mapped to config keys. */
import { parseArgs } from 'node:util';
import { UsageError } from './io.js';

const COMMON_FLAGS = {
  data: { type: 'string' },
  'database-url': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ParsedCommand {
  readonly positionals: string[];
  readonly values: Record<string, string | boolean | undefined>;
}

export function parseCommand(args: readonly string[], extra: Record<string, { type: 'string' | 'boolean' }>, positionalCount: number): ParsedCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { ...COMMON_FLAGS, ...extra }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeParseError(error as NodeJS.ErrnoException));
  }
  if (parsed.positionals.length !== positionalCount) {
    throw new UsageError(`expected ${positionalCount} argument(s), got ${parsed.positionals.length}`);
  }
  return { positionals: parsed.positionals, values: parsed.values };
}

/** Flags that are config keys (SPEC §7: flags are the last layer). */
export function configFlags(values: ParsedCommand['values']): Record<string, unknown> {
  return {
    dataDir: values.data,
    databaseUrl: values['database-url'],
    host: values.host,
    port: values.port,
    trustProxy: values['trust-proxy'],
  };
}

/**
 * `a,b,c` → ['a','b','c']; empty items dropped; undefined when the flag is absent.
 * @throws UsageError when the flag is given but names nothing (`--scopes ,`): a typo must not
 *   quietly make a token without scopes.
 */
export function splitList(value: string | boolean | undefined, flag: string): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError(`--${flag} needs at least one value`);
  return items;
}

/** node:util's parseArgs messages run to several sentences; the CLI says one. */
function describeParseError(error: NodeJS.ErrnoException): string {
  const option = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1] ?? 'an option';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `option ${option} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return 'too many arguments';
    default:
      return 'invalid arguments';
  }
}
