/**
 * `tokenbox export` / `tokenbox import` (SPEC §8): a whole store as JSON lines (transfer-format.ts)
 * and back, so a deployment moves from SQLite to PostgreSQL without a customer noticing. The CLI
 * only opens the files and the store; everything the file means is decided here.
 *
 * Both directions stream. An export pulls records from the store's snapshot page by page and
 * pushes lines through `pipeline`, which waits whenever the output is full; an import pulls one
 * line at a time and writes batches of BATCH_SIZE, waiting for each before reading on. Neither
 * ever holds more than a page or a batch, so a million tokens cost what a thousand do.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { isoDate, type Clock } from '../domain/clock.js';
import type { Sealer } from '../domain/sealer.js';
import { TRANSFER_ORDER, type ImportWriter, type StoreContents, type TransferableStore, type TransferKind, type TransferRecord } from '../store/transfer.js';
import {
  endSchema,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  firstProblem,
  headerSchema,
  isTransferKind,
  MAX_LINE_LENGTH,
  opensSecretCheck,
  parseRecord,
  sealSecretCheck,
  zeroCounts,
  type TransferCounts,
} from './transfer-format.js';

export type { TransferCounts };

/** Records an import hands the store at a time: one `ImportWriter.write` each. */
export const BATCH_SIZE = 500;
/** An export's lines are gathered into chunks of about this many characters before they are written. */
const CHUNK_CHARS = 64 * 1024;

/** A refused export or import: one sentence for the operator. Nothing was committed. */
export class TransferError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransferError';
  }
}

export class TransferService {
  constructor(
    private readonly store: TransferableStore,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
  ) {}

  /**
   * Writes the whole store to `output` and ends it. Every signing key must open with this
   * tokenbox's secret (else the export's `secretCheck` would vouch for a secret that opens
   * nothing): TransferError otherwise, with `output` holding a file that has no end line.
   */
  async exportTo(output: NodeJS.WritableStream): Promise<TransferCounts> {
    const counts = zeroCounts();
    await pipeline(Readable.from(this.exportChunks(counts)), output);
    return counts;
  }

  /**
   * Reads an export from `input` into the store, which must be empty: all of it in one
   * transaction, or nothing. The header and its secret are checked before the store is touched.
   * @throws TransferError naming the line for a file that is not a whole, valid export, or a
   *   target that is not empty (what it holds is named).
   */
  async importFrom(input: AsyncIterable<Buffer | string>): Promise<TransferCounts> {
    const lines = readLines(input, MAX_LINE_LENGTH);
    try {
      const first = await lines.next();
      if (first.done === true) throw new TransferError('the input is empty, where a tokenbox export was expected');
      this.checkHeader(first.value);
      const begun = await this.store.beginImport();
      if (!begun.empty) {
        throw new TransferError(`the target store is not empty (it holds ${describeContents(begun.contents)}), and import only fills an empty store`);
      }
      try {
        const counts = await loadRecords(lines, begun.writer);
        await begun.writer.commit();
        return counts;
      } catch (error) {
        await begun.writer.abort();
        throw error;
      }
    } finally {
      // Stops reading (and releases) the input when the import ends early.
      await lines.return(undefined);
    }
  }

  private async *exportChunks(counts: TransferCounts): AsyncGenerator<string> {
    const header = {
      kind: 'header',
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exportedAt: isoDate(this.clock()),
      secretCheck: sealSecretCheck(this.sealer),
    };
    let chunk = `${JSON.stringify(header)}\n`;
    for await (const record of this.store.exportRecords()) {
      if (record.kind === 'signingKey' && this.sealer.open(record.sealedKey, record.id) === null) {
        throw new TransferError(
          `signing key ${record.id} does not open with this secret, so the export would be of no use: run it with the store's own TOKENBOX_SECRET or secret.key`,
        );
      }
      counts[record.kind] += 1;
      chunk += `${JSON.stringify(record)}\n`;
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = '';
      }
    }
    yield `${chunk}${JSON.stringify({ kind: 'end', counts })}\n`;
  }

  private checkHeader(line: string): void {
    const value = parseJsonLine(line, 1);
    const result = headerSchema.safeParse(value);
    if (!result.success) throw new TransferError(`line 1 is not a tokenbox export header (${firstProblem(result.error)})`);
    if (result.data.version !== EXPORT_VERSION) {
      throw new TransferError(`line 1 says export format version ${result.data.version}, and this tokenbox reads version ${EXPORT_VERSION} only`);
    }
    if (!opensSecretCheck(this.sealer, result.data.secretCheck)) {
      throw new TransferError(
        "the export was sealed with another secret than this tokenbox's, so nothing was imported: set TOKENBOX_SECRET to the source's secret (on SQLite, the contents of its secret.key)",
      );
    }
  }
}

/**
 * Every line after the header, checked and written in batches, up to and including the end line,
 * whose counts must match what came before it. Returns the counts; throws TransferError naming
 * the first bad line. Nothing is committed here.
 */
async function loadRecords(lines: AsyncGenerator<string>, writer: ImportWriter): Promise<TransferCounts> {
  const counts = zeroCounts();
  let lineNumber = 1;
  let position = 0;
  let batch: TransferRecord[] = [];
  let batchStart = 2;
  let end: TransferCounts | null = null;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    try {
      await writer.write(batch);
    } catch (error) {
      const lines = batchStart === lineNumber ? `line ${batchStart}` : `lines ${batchStart} to ${lineNumber}`;
      throw new TransferError(`the target store refused a record on ${lines} (${(error as Error).message})`, { cause: error });
    }
    batch = [];
    batchStart = lineNumber + 1;
  };
  for await (const line of lines) {
    lineNumber += 1;
    if (end !== null) throw new TransferError(`line ${lineNumber} comes after the end line`);
    const value = parseJsonLine(line, lineNumber);
    const kind = kindOf(value, lineNumber);
    if (kind === 'end') {
      const result = endSchema.safeParse(value);
      if (!result.success) throw new TransferError(`line ${lineNumber} is not a valid end line (${firstProblem(result.error)})`);
      end = result.data.counts;
      continue;
    }
    const index = TRANSFER_ORDER.indexOf(kind);
    if (index < position) {
      throw new TransferError(
        `line ${lineNumber} holds ${withArticle(kind)} record after ${TRANSFER_ORDER[position]} records, out of the order ${TRANSFER_ORDER.join(', ')}`,
      );
    }
    position = index;
    const parsed = parseRecord(kind, value);
    if (!parsed.ok) throw new TransferError(`line ${lineNumber} is not a valid ${kind} record (${parsed.problem})`);
    batch.push(parsed.record);
    counts[kind] += 1;
    if (batch.length >= BATCH_SIZE) await flush();
  }
  if (end === null) throw new TransferError(`the input ends at line ${lineNumber} without its end line, so the export is incomplete`);
  for (const kind of TRANSFER_ORDER) {
    if (end[kind] !== counts[kind]) {
      throw new TransferError(`the end line counts ${end[kind]} ${kind} records where the file holds ${counts[kind]}, so the export is incomplete or altered`);
    }
  }
  await flush();
  return counts;
}

function parseJsonLine(line: string, lineNumber: number): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw new TransferError(`line ${lineNumber} is not valid JSON`);
  }
}

function kindOf(value: unknown, lineNumber: number): TransferKind | 'end' {
  const kind = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { kind?: unknown }).kind : undefined;
  if (kind === 'end' || isTransferKind(kind)) return kind;
  if (kind === 'header') throw new TransferError(`line ${lineNumber} is a second header`);
  throw new TransferError(`line ${lineNumber} has ${typeof kind === 'string' ? `an unknown kind ${JSON.stringify(kind.slice(0, 40))}` : 'no kind'}`);
}

function withArticle(kind: TransferKind): string {
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

function describeContents(contents: StoreContents): string {
  const parts = [
    [contents.accounts, 'account'],
    [contents.signingKeys, 'signing key'],
    [contents.adminKeys, 'admin key'],
    [contents.auditEntries, 'audit entry'],
  ] as const;
  return parts
    .filter(([count]) => count > 0)
    .map(([count, noun]) => `${count} ${count === 1 ? noun : noun === 'audit entry' ? 'audit entries' : `${noun}s`}`)
    .join(', ');
}

/**
 * The lines of `input` (UTF-8), without their `\n` or `\r\n`, pulled one chunk at a time: the
 * source is read only as fast as lines are taken. Unlike `readline`, a line longer than
 * `maxLength` is refused as soon as that many characters are buffered, so a file with no line
 * break is never held whole.
 */
export async function* readLines(input: AsyncIterable<Buffer | string>, maxLength: number): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNumber = 0;
  const tooLong = (): TransferError => new TransferError(`line ${lineNumber + 1} is longer than ${maxLength} characters`);
  for await (const chunk of input) {
    // Search only the new text: the pending part has no line break.
    const searchFrom = pending.length;
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let end = pending.indexOf('\n', searchFrom); end !== -1; end = pending.indexOf('\n', start)) {
      if (end - start > maxLength) throw tooLong();
      const line = pending.slice(start, end);
      lineNumber += 1;
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
      start = end + 1;
    }
    pending = pending.slice(start);
    if (pending.length > maxLength) throw tooLong();
  }
  pending += decoder.end();
  if (pending.length > maxLength) throw tooLong();
  if (pending.length > 0) yield pending.endsWith('\r') ? pending.slice(0, -1) : pending;
}
