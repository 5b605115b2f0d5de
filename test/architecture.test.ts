/**
 * The house rules of STYLE.md, checked on the source: no import cycle (type-only imports
 * included), dependencies point inward, and only the composition root picks concrete adapters.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** file (relative to src) → the src files it imports or re-exports from, types included. */
function importGraph(): Map<string, string[]> {
  const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(SRC, file), 'utf8');
    const deps = [...text.matchAll(/(?:import|export)[^'";]*?from\s+'(\.[^']+)'/g)].map((m) =>
      relative(SRC, resolve(dirname(join(SRC, file)), (m[1] as string).replace(/\.js$/, '.ts'))),
    );
    graph.set(file, deps);
  }
  return graph;
}

const graph = importGraph();
const layer = (file: string): string => (file.includes('/') ? (file.split('/')[0] as string) : file);

it('has no import cycle, type-only imports included', () => {
  const done = new Set<string>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    if (path.includes(file)) {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    if (done.has(file)) return;
    path.push(file);
    for (const dep of graph.get(file) ?? []) visit(dep);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  assert.deepEqual(cycles, []);
});

it('dependencies point inward: domain imports nothing of ours outside domain; services and verification no adapter', () => {
  const allowed: Record<string, ReadonlySet<string>> = {
    domain: new Set(['domain']),
    services: new Set(['domain', 'services', 'verification', 'store/port.ts', 'store/transfer.ts']),
    verification: new Set(['domain', 'verification', 'store/port.ts']),
  };
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const rules = allowed[layer(file)];
    if (rules === undefined) continue;
    for (const dep of deps) if (!rules.has(layer(dep)) && !rules.has(dep)) bad.push(`${file} -> ${dep}`);
  }
  assert.deepEqual(bad, []);
});

it('adapters do not import each other; only main.ts picks a concrete store; the CLI takes only the server from http', () => {
  const adapters = ['http', 'cli', 'store', 'web'];
  /** The store's ports: the Store itself and the transfer interface beside it (export/import). */
  const ports = new Set(['store/port.ts', 'store/transfer.ts']);
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      const from = layer(file);
      const to = layer(dep);
      if (to === 'store' && !ports.has(dep) && from !== 'store' && file !== 'main.ts') bad.push(`${file} -> ${dep} (a concrete store)`);
      if (from === 'cli' && to === 'http' && dep !== 'http/server.ts') bad.push(`${file} -> ${dep}`);
      if (adapters.includes(from) && adapters.includes(to) && from !== to && !(from === 'cli' && dep === 'http/server.ts') && !ports.has(dep))
        bad.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(bad, []);
});

it('no SQLite statement binds a bare LIMIT (SQLite re-prepares it on every run: src/store/sqlite/statements.ts)', () => {
  const BARE_LIMIT = /\bLIMIT\s+[?@:$]/i;
  assert.equal(BARE_LIMIT.test('ORDER BY seq LIMIT ?'), true, 'the pattern must catch a bare bound limit');
  assert.equal(BARE_LIMIT.test('LIMIT CAST(? AS INTEGER)'), false);
  const dir = join(SRC, 'store/sqlite');
  const offenders = readdirSync(dir)
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((line) => BARE_LIMIT.test(line) && !line.trim().startsWith('*'))
        .map((line) => `${file}: ${line.trim()}`),
    );
  assert.deepEqual(offenders, []);
});
