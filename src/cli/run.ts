/** The `tokenbox` command line: dispatch, config, exit codes (0 ok, 1 failed, 2 usage). */
import { loadConfig } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import { isUsername } from '../domain/token-format.js';
import { openTokenbox, type Tokenbox } from '../main.js';
import { SecretKeyError } from '../secret-key.js';
import { KeyringError } from '../services/keyring.js';
import { TransferError } from '../services/transfer-service.js';
import { configFlags, parseCommand, type ParsedCommand } from './args.js';
import * as commands from './commands.js';
import { UsageError, type CliIo } from './io.js';
import { serve } from './serve.js';
import { exportCommand, importCommand, type StoreCommandBody } from './transfer-commands.js';

interface CommandBase {
  readonly usage: string;
  readonly positionals: number;
  /** The first positional is a username: checked before the store is opened (a usage error). */
  readonly username?: true;
  /** Writes the operator's view of the catalog into the store (SPEC §4.4: only serve and migrate). */
  readonly rederives?: true;
  readonly flags?: Record<string, { type: 'string' | 'boolean' }>;
}

/** Either a command on the whole of tokenbox (`run`), or one on the bare store (`runOnStore`: export, import). */
type CommandSpec = CommandBase &
  (
    | { readonly run: (app: Tokenbox, cmd: ParsedCommand, io: CliIo) => Promise<number | void>; readonly runOnStore?: never }
    | { readonly runOnStore: StoreCommandBody; readonly run?: never }
  );

const COMMANDS: Record<string, CommandSpec> = {
  serve: {
    usage: 'serve [--host 127.0.0.1] [--port 8080] [--trust-proxy ADDRS|HOPS] [--config PATH]',
    positionals: 0,
    flags: { host: { type: 'string' }, port: { type: 'string' }, 'trust-proxy': { type: 'string' } },
    rederives: true,
    run: (app, _cmd, io) => serve(app, io),
  },
  'accounts create': {
    usage: 'accounts create <username> [--password-stdin] [--json]',
    positionals: 1,
    username: true,
    flags: { 'password-stdin': { type: 'boolean' } },
    run: commands.accountsCreate,
  },
  'accounts set-password': {
    usage: 'accounts set-password <username> --password-stdin',
    positionals: 1,
    username: true,
    flags: { 'password-stdin': { type: 'boolean' } },
    run: commands.accountsSetPassword,
  },
  'accounts disable': { usage: 'accounts disable <username>', positionals: 1, username: true, run: commands.accountsDisable },
  'accounts enable': { usage: 'accounts enable <username>', positionals: 1, username: true, run: commands.accountsEnable },
  'accounts delete': { usage: 'accounts delete <username>', positionals: 1, username: true, run: commands.accountsDelete },
  'accounts list': { usage: 'accounts list [--json]', positionals: 0, run: commands.accountsList },
  'tokens create': {
    usage: 'tokens create <username> [--scopes a,b] [--note N] [--allowed-urls u1,u2] [--json]',
    positionals: 1,
    username: true,
    flags: { scopes: { type: 'string' }, note: { type: 'string' }, 'allowed-urls': { type: 'string' } },
    run: commands.tokensCreate,
  },
  'tokens list': { usage: 'tokens list <username> [--json]', positionals: 1, username: true, run: commands.tokensList },
  'tokens delete': { usage: 'tokens delete <username> <id>', positionals: 2, username: true, run: commands.tokensDelete },
  'keys rotate': { usage: 'keys rotate [--json]', positionals: 0, run: commands.keysRotate },
  'keys list': { usage: 'keys list [--json]', positionals: 0, run: commands.keysList },
  migrate: { usage: 'migrate [--json]', positionals: 0, rederives: true, run: commands.migrate },
  'admin-keys create': { usage: 'admin-keys create [--note N] [--json]', positionals: 0, flags: { note: { type: 'string' } }, run: commands.adminKeysCreate },
  'admin-keys list': { usage: 'admin-keys list [--json]', positionals: 0, run: commands.adminKeysList },
  'admin-keys delete': { usage: 'admin-keys delete <id>', positionals: 1, run: commands.adminKeysDelete },
  audit: {
    usage: 'audit [--account U] [--limit N] [--json]',
    positionals: 0,
    flags: { account: { type: 'string' }, limit: { type: 'string' } },
    run: commands.audit,
  },
  export: { usage: 'export [--out FILE] [--json]', positionals: 0, flags: { out: { type: 'string' } }, runOnStore: exportCommand },
  import: { usage: 'import [--in FILE] [--json]', positionals: 0, flags: { in: { type: 'string' } }, runOnStore: importCommand },
};

function usageText(): string {
  const lines = Object.values(COMMANDS).map((c) => `  tokenbox ${c.usage}`);
  return ['usage:', ...lines, '', 'every command takes --data DIR (default ./data), --database-url URL and --config PATH'].join('\n');
}

function findCommand(argv: readonly string[]): { spec: CommandSpec; rest: string[] } | null {
  const two = `${argv[0]} ${argv[1]}`;
  if (COMMANDS[two] && argv[1] !== undefined && !argv[1].startsWith('-')) return { spec: COMMANDS[two], rest: argv.slice(2) };
  const one = argv[0];
  if (one !== undefined && COMMANDS[one] && !one.includes(' ')) return { spec: COMMANDS[one], rest: argv.slice(1) };
  return null;
}

/**
 * An error's message for the operator; a store that cannot be reached also says why (the
 * driver's own words: `connect ECONNREFUSED 127.0.0.1:5432`, a missing database), which a client
 * of the HTTP API never sees.
 */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof AppError && error.code === 'unavailable' && error.cause instanceof Error && error.cause.message !== '') {
    return `${message.replace(/[.]$/, '')} (${error.cause.message.trim()})`;
  }
  return message;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

export async function runCli(argv: readonly string[], io: CliIo, env: Record<string, string | undefined> = process.env): Promise<number> {
  if (argv.length === 0) {
    io.err('no command given; run tokenbox --help to see the commands.');
    return 2;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(usageText());
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const words = argv.slice(0, 2).filter((word, i) => i === 0 || !word.startsWith('-'));
    io.err(`unknown command "${words.join(' ')}"; run tokenbox --help to see the commands.`);
    return 2;
  }
  let cmd: ParsedCommand;
  try {
    cmd = parseCommand(found.rest, found.spec.flags ?? {}, found.spec.positionals);
  } catch (error) {
    io.err(sentence(`${(error as Error).message}; usage: tokenbox ${found.spec.usage}`));
    return 2;
  }
  if (cmd.values.help) {
    io.out(`usage: tokenbox ${found.spec.usage}`);
    return 0;
  }
  if (found.spec.username && !isUsername(cmd.positionals[0])) {
    io.err(
      sentence(
        `${JSON.stringify(cmd.positionals[0])} is not a valid username (1–32 of a-z, 0-9, _ and -, starting with a letter or digit); usage: tokenbox ${found.spec.usage}`,
      ),
    );
    return 2;
  }
  const loaded = loadConfig({
    flags: configFlags(cmd.values),
    ...(typeof cmd.values.config === 'string' && { configPath: cmd.values.config }),
    env,
  });
  if (!loaded.ok) {
    io.err(sentence(`invalid configuration: ${loaded.errors.join('; ')}`));
    return 2;
  }
  if (found.spec.runOnStore !== undefined) {
    try {
      await found.spec.runOnStore(loaded.config, cmd, io);
      return 0;
    } catch (error) {
      return report(error, io);
    }
  }
  let app: Tokenbox;
  try {
    // Only `serve` follows the change log; a one-shot command reads it once as it opens.
    app = await openTokenbox(loaded.config, {
      ...(found.spec !== COMMANDS.serve && { changePollMs: 0 }),
      rederiveDefaultScopes: found.spec.rederives === true,
    });
  } catch (error) {
    io.err(sentence(error instanceof KeyringError || error instanceof SecretKeyError ? error.message : `cannot open the store: ${describe(error)}`));
    return 1;
  }
  const run = found.spec.run;
  if (found.spec === COMMANDS.serve) return (await run(app, cmd, io)) ?? 0;
  try {
    return (await run(app, cmd, io)) ?? 0;
  } catch (error) {
    return report(error, io);
  } finally {
    await app.close();
  }
}

/** A command's failure as one sentence on stderr; the exit code: 2 for a usage error, else 1. */
function report(error: unknown, io: CliIo): number {
  if (error instanceof UsageError) {
    io.err(sentence(error.message));
    return 2;
  }
  if (error instanceof AppError || error instanceof TransferError || error instanceof KeyringError || error instanceof SecretKeyError) {
    io.err(sentence(describe(error)));
    return 1;
  }
  io.err(sentence(`unexpected error: ${(error as Error).message}`));
  return 1;
}
