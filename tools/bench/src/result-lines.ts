/**
 * Headline figures for machines: after its human table, each benchmark ends with one
 * `result: NAME = VALUE` line per figure, NAME in snake_case with its unit in it
 * (`start_p50_ms`, `start_over_bare_runc`), VALUE a plain number (`NaN` when not measured).
 */
export type BenchResults = Record<string, number>;

const NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

export function resultLines(results: BenchResults): string[] {
  return Object.entries(results).map(([name, value]) => {
    if (!NAME.test(name)) throw new Error(`bench result name ${name} is not snake_case`);
    return `result: ${name} = ${Number.isInteger(value) ? value : Number(value.toFixed(3))}`;
  });
}

export function printResults(results: BenchResults): void {
  console.log(resultLines(results).join('\n'));
}
