import { main } from './main';

// The process edge: argv, environment and streams go in here and nowhere else.
void main(
  process.argv.slice(2),
  process.env,
  (line) => process.stdout.write(`${line}\n`),
  (line) => process.stderr.write(`${line}\n`),
).then((code) => {
  process.exitCode = code;
});
