/** Where a command writes, so tests can capture it. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Standard input's first line without its line break (`--password-stdin`); null when there is none. */
  readLine?(): Promise<string | null>;
  /** Standard input as a byte stream (`import` without `--in`). */
  readonly stdin?: NodeJS.ReadableStream;
  /** Standard output as a byte stream (`export` without `--out`): the export itself, nothing else. */
  readonly stdout?: NodeJS.WritableStream;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  readLine: () => firstLine(process.stdin),
  stdin: process.stdin,
  stdout: process.stdout,
};

/** Reads until the first line break (or the end); a trailing `\r\n` or `\n` is not part of the line. */
async function firstLine(input: NodeJS.ReadableStream): Promise<string | null> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (text.includes('\n') || text.length > 64 * 1024) break;
  }
  if (text === '') return null;
  const end = text.indexOf('\n');
  const line = end === -1 ? text : text.slice(0, end);
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** A usage error: exit code 2. */
export class UsageError extends Error {}
