/**
 * `npm run bench [-- --quick]`: creates/s through the API, list latency on the first and last page
 * of a 100,000-token account, and retrieve throughput against a bare Fastify route, all in one
 * run on this machine. Prints figures and ratios; asserts nothing about timing (a missed goal is
 * reported, not failed). See docs/benchmarks.md.
 */
import { rmSync } from 'node:fs';
import { measureCreates, probeCreateCost } from './creates.js';
import { measureList, prepareBigAccount } from './list.js';
import { parseOptions } from './options.js';
import { loadLine, printFigures, printHeader } from './report.js';
import { measureRetrieve } from './retrieve.js';
import { startBenchApp } from './setup.js';
import { measureVerification, printVerification } from './verification.js';
import { measureGateway, printGateway } from './gateway.js';
import { measureMetricsCost, printMetricsCost } from './metrics.js';
import { measureAuditCost, printAuditCost } from './audit.js';
import { measureCluster, printCluster } from './cluster.js';

const progress = (text: string): void => {
  process.stderr.write(`.. ${text}\n`);
};

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  printHeader(options);
  const bench = await startBenchApp();
  // Ctrl-C skips `finally`: remove the temp data on the way out all the same.
  const onSignal = (signal: NodeJS.Signals): void => {
    rmSync(bench.dataDir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (options.only === 'cluster') {
      printCluster(await measureCluster(bench, options, progress));
      return;
    }
    if (options.only === 'audit') {
      printAuditCost(await measureAuditCost(bench, options));
      return;
    }
    if (options.only === 'check') {
      printVerification(await measureVerification(bench, options));
      return;
    }
    progress(`creates: ${options.createWarmupS} s warm-up + ${options.createDurationS} s timed`);
    const creates = await measureCreates(bench, options, 'writer');

    progress(`seeding an account with ${options.bigAccountTokens} tokens and walking its pages`);
    const big = await prepareBigAccount(bench, options, 'big');
    progress(`list latency: ${options.listRounds} rounds of (first page, last page)`);
    const list = await measureList(bench, options, big);

    progress(`retrieve vs bare Fastify: ${options.retrieveRounds} round(s) of ${options.retrieveDurationS} s each side`);
    const retrieve = await measureRetrieve(bench, options, big.sk);

    progress(`verification: in process, /auth/v1/check vs bare Fastify and a flood of refusals (${options.cycles} cycles of ${options.sliceS} s slices)`);
    const verification = await measureVerification(bench, options);

    progress(`gateway vs a plain proxy of the same upstream (${options.cycles} cycles of ${options.sliceS} s slices)`);
    const gateway = await measureGateway(bench, options);

    progress(`metrics on vs off on /auth/v1/check (${options.cycles} cycles of ${options.sliceS} s slices)`);
    const metrics = await measureMetricsCost(bench, options);

    progress('a token update with and without its audit entry, in process');
    const audit = await measureAuditCost(bench, options);

    const cluster = await measureCluster(bench, options, progress);

    // Last: it adds tokens to the accounts it probes.
    progress('create cost vs account size');
    await bench.app.accounts.create('probe');
    const probe = [
      { size: 1, cost: await probeCreateCost(bench.app, 'probe', options.probeCreates) },
      { size: creates.accountSize, cost: await probeCreateCost(bench.app, 'writer', options.probeCreates) },
      { size: big.total, cost: await probeCreateCost(bench.app, 'big', options.probeCreates) },
    ];

    printFigures(options, { creates, big, list, retrieve, probe });
    process.stdout.write('\n');
    printVerification(verification);
    process.stdout.write('\n');
    printGateway(gateway);
    process.stdout.write('\n');
    printMetricsCost(metrics);
    process.stdout.write('\n');
    printAuditCost(audit);
    process.stdout.write('\n');
    printCluster(cluster);
    process.stdout.write(`${loadLine('at end')}\n`);
  } finally {
    await bench.close();
  }
  process.stdout.write(`\ntotal time ${((performance.now() - started) / 1000).toFixed(0)} s; temp data removed\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
