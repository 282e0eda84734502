import { formatReport, losses, runChaos } from './chaos/chaos-run';

/**
 * `npm run chaos`: the long chaos run. `CHAOS_ROUNDS` rounds (default 3) of
 * every fault, `CHAOS_PODS` submissions under each (default 8); prints the
 * table and `result:` lines; exits 1 when any loss figure is not 0.
 */
async function main(): Promise<void> {
  const rounds = Number(process.env['CHAOS_ROUNDS'] ?? 3);
  const podsPerFault = Number(process.env['CHAOS_PODS'] ?? 8);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(podsPerFault) || podsPerFault < 1) {
    throw new Error('CHAOS_ROUNDS and CHAOS_PODS must be positive integers');
  }
  const report = await runChaos({ rounds, podsPerFault, log: (l) => console.log(l) });
  for (const d of report.details) console.log(`  ${d}`);
  console.log(formatReport(report));
  process.exitCode = losses(report) === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
