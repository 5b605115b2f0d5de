import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { CATALOGUE } from '../src/domain/errors.js';

/** Rows of the form | `code` | status | `message` | when |. */
function documentedRows(): Map<string, { status: number; message: string }> {
  const rows = new Map<string, { status: number; message: string }>();
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const line of text.split('\n')) {
    const match = /^\| `([a-z_]+)` \| (\d{3}) \| `([^`]+)` \|/.exec(line);
    if (match) rows.set(match[1] as string, { status: Number(match[2]), message: match[3] as string });
  }
  return rows;
}

it('docs/errors.md lists every catalogue entry with its exact status and message, and nothing else', () => {
  const documented = documentedRows();
  const catalogue = new Map(Object.entries(CATALOGUE).map(([code, e]) => [code, { status: e.status, message: e.message }]));
  // rate_limited appears in both tables with the same text; a Map keeps one.
  assert.deepEqual(Object.fromEntries(documented), Object.fromEntries(catalogue));
});
