#!/usr/bin/env node
import { runCli } from './run.js';
import { processIo } from './io.js';

runCli(process.argv.slice(2), processIo).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tokenbox failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
