/**
 * The one configuration module (SPEC §7): defaults ← JSON file (`--config` or `TOKENBOX_CONFIG`)
 * ← environment (`TOKENBOX_<KEY>`, with `DATABASE_URL` / `REDIS_URL` as fallbacks) ← flags.
 * Parsed once and frozen. Nothing else in tokenbox reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { METHODS as NODE_METHODS } from 'node:http';
import { isIP } from 'node:net';
import { z } from 'zod';
import { RESERVED_PREFIXES } from '../domain/route-rules.js';
import { ScopeCatalog, SCOPE_PATTERN } from '../domain/scopes.js';
/** A rule may name any method Node's HTTP parser accepts, as forward auth answers them all. */
const METHODS = NODE_METHODS as [string, ...string[]];

const scopeSchema = z.strictObject({
  id: z.string().regex(SCOPE_PATTERN).max(128),
  description: z.string().max(200),
  public: z.boolean(),
});

const routeSchema = z
  .strictObject({
    path: z.string().startsWith('/').max(2048),
    methods: z.array(z.enum(METHODS)).min(1).optional(),
    scope: z.string().regex(SCOPE_PATTERN),
    upstream: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .refine(isOrigin, 'must be http(s)://host[:port], without a path, query or credentials (the request path is forwarded unchanged)')
      .transform((u) => new URL(u).origin)
      .optional(),
    rateLimit: z.number({ error: 'must be a positive integer (requests per 60 s per account)' }).int().min(1).optional(),
  })
  .refine((r) => !routesReservedPrefix(r.path), {
    message: 'routes a reserved prefix',
    path: ['path'],
  })
  .refine((r) => isValidGlob(r.path), {
    message: 'is not a valid path glob (no `**`, `?`, `#`, `%`, backslash, whitespace, empty or dot segment)',
    path: ['path'],
  });

/** An upstream is an origin: the gateway forwards the request's own path, so a base path would be ignored. */
function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return true; // z.url() has already named it
  const url = new URL(value);
  return (
    url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '' && !value.includes('?') && !value.includes('#')
  );
}

/**
 * A route glob matches normalised paths (SPEC §5). `**`, and what a normalised path never holds
 * (`?`, `#`, `%`, a backslash, whitespace, an empty or dot segment) would make a rule that
 * silently never matches, so they are config errors.
 */
function isValidGlob(path: string): boolean {
  if (/[?#%\\\s]/.test(path) || path.includes('**')) return false;
  const segments = path.slice(1).split('/');
  return segments.every((segment, i) => segment !== '.' && segment !== '..' && (segment !== '' || i === segments.length - 1));
}

/**
 * A route may not claim tokenbox's own paths. A catch-all (`/*`) is allowed: tokenbox's routes
 * are matched before the gateway's, so it can only take what is left.
 */
function routesReservedPrefix(path: string): boolean {
  const literal = path.replace(/\*.*$/, '');
  return RESERVED_PREFIXES.some((p) => literal.startsWith(p) || (literal.length > 1 && p.startsWith(literal)));
}

/**
 * `trustProxy` (SPEC §4.2): `true`/`false`, or the proxies' addresses — IPs, CIDR ranges, or
 * proxy-addr's names `loopback`, `linklocal`, `uniquelocal` — as a comma-separated string or an
 * array, or a hop count (an integer 0–32; SPEC §4.2). From the environment (always a string)
 * `true`/`false` are booleans and digits a hop count. `0` hops is `false`. Addresses are checked
 * here so a typo is a config error, not a proxy silently distrusted.
 *
 * Fastify 5.12.1 stopped honouring a bare number (it now trusts nothing for one), so the server
 * turns a count into proxy-addr's own hop-count trust function (`buildServer`): the SPEC's
 * contract holds whatever the framework version. A count trusts whatever connects first, so
 * docs/configuration.md recommends the addresses.
 */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const slash = entry.indexOf('/');
  if (slash === -1) return isIP(entry) !== 0;
  const version = isIP(entry.slice(0, slash));
  const prefix = entry.slice(slash + 1);
  if (version === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

const proxyAddress = z.string().trim().refine(isProxyAddress, 'must be an IP address, a CIDR range (10.0.0.0/8), loopback, linklocal or uniquelocal');
const trustProxySchema = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const text = v.trim();
    if (text === 'true' || text === 'false') return text === 'true';
    if (/^\d+$/.test(text)) return Number(text);
    return text.split(',');
  },
  z
    .union([z.boolean(), z.number().int().min(0).max(32), z.array(proxyAddress).min(1)], {
      error: "must be true, false, a hop count (0–32), or the proxies' addresses (IP or CIDR, comma-separated or an array)",
    })
    .transform((v) => (v === 0 ? false : v)),
);

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().min(1);

const configSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8080),
  dataDir: z.string().min(1).default('./data'),
  databaseUrl: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a PostgreSQL URL (postgres://user@host:5432/database)')
    .optional(),
  /** [ext] Connections each process keeps open to PostgreSQL at most (with `databaseUrl`). */
  databasePoolSize: z.coerce
    .number()
    .int()
    .min(2, 'must be at least 2 (a housekeeping run holds one connection while its jobs use another)')
    .max(1_000)
    .default(10),
  redisUrl: z
    .string()
    .trim()
    .regex(/^rediss?:\/\/\S+$/, 'must be a Redis URL (redis://[:password@]host:6379[/db], or rediss:// for TLS)')
    .optional(),
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  trustProxy: trustProxySchema.default(false),
  bodyLimit: positive.max(64 * 1024 * 1024).default(256 * 1024),
  accountRateLimit: positive.default(100),
  /** [ext] Optional per-token ceiling on verified requests (a tk counts toward its `p`); off when unset. */
  tokenRateLimit: positive.optional(),
  maxTokensPerAccount: positive.default(10_000),
  /** How often counted usage is written to the store, in ms (SPEC §5, §7). */
  usageFlushMs: positive.max(3_600_000).default(5_000),
  metricsPort: port.optional(),
  /** How long audit entries are kept, in days (SPEC §10); pruned by `serve`'s housekeeping. */
  auditRetentionDays: positive.max(36_500).default(400),
  cacheSize: positive.default(100_000),
  /**
   * [ext] The gateway's upstream timeout (ms): how long it waits for an upstream's response headers
   * once the request is sent, and between two chunks of its body. 504 when it passes.
   */
  upstreamTimeoutMs: positive.max(3_600_000).default(30_000),
  /** Key-encryption secret (`TOKENBOX_SECRET`); environment only, never in a file. */
  secret: z.string().min(32, 'must be at least 32 characters').optional(),
  scopes: z.array(scopeSchema).default([]),
  routes: z.array(routeSchema).default([]),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/** Keys the environment may set; `scopes` and `routes` come from the file only. */
const ENV_KEYS = [
  'host',
  'port',
  'dataDir',
  'databaseUrl',
  'databasePoolSize',
  'redisUrl',
  'publicUrl',
  'trustProxy',
  'bodyLimit',
  'accountRateLimit',
  'tokenRateLimit',
  'maxTokensPerAccount',
  'usageFlushMs',
  'cacheSize',
  'secret',
  'metricsPort',
  'auditRetentionDays',
  'upstreamTimeoutMs',
] as const;

export interface ConfigSources {
  /** Values from command-line flags, already named as config keys. */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** `--config PATH`, when given. */
  readonly configPath?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

function envName(key: string): string {
  return `TOKENBOX_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function readFileLayer(path: string): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { ok: false, error: `config: cannot read ${path}` };
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ok: false, error: `config: ${path} must hold a JSON object` };
    }
    return { ok: true, value: value as Record<string, unknown> };
  } catch {
    return { ok: false, error: `config: ${path} is not valid JSON` };
  }
}

/** Merges the layers, validates, and names every bad key. */
export function loadConfig(sources: ConfigSources = {}): ConfigResult {
  const env = sources.env ?? process.env;
  const merged: Record<string, unknown> = {};
  const configPath = sources.configPath ?? env.TOKENBOX_CONFIG;
  if (configPath) {
    const file = readFileLayer(configPath);
    if (!file.ok) return { ok: false, errors: [file.error] };
    if (Object.hasOwn(file.value, 'secret')) return { ok: false, errors: ['secret: set TOKENBOX_SECRET in the environment, not in a file'] };
    Object.assign(merged, file.value);
  }
  if (env.DATABASE_URL) merged.databaseUrl = env.DATABASE_URL;
  if (env.REDIS_URL) merged.redisUrl = env.REDIS_URL;
  for (const key of ENV_KEYS) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) merged[key] = value;
  }
  // An explicit --data selects SQLite even when a database URL comes from the environment.
  if (sources.flags?.dataDir !== undefined && sources.flags.databaseUrl === undefined) delete merged.databaseUrl;

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`);
    return { ok: false, errors: [...new Set(errors)] };
  }
  try {
    new ScopeCatalog(parsed.data.scopes);
  } catch (error) {
    return { ok: false, errors: [`scopes: ${(error as Error).message}`] };
  }
  // Several nodes on one database must open each other's sealed keys: a secret.key generated in
  // each node's own data directory would differ, so with a database URL the secret is required.
  if (parsed.data.databaseUrl !== undefined && parsed.data.secret === undefined) {
    return { ok: false, errors: ['secret: TOKENBOX_SECRET must be set with a database URL (every node shares it; none is generated)'] };
  }
  return { ok: true, config: Object.freeze(parsed.data) };
}
