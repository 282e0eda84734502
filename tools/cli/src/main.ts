import { parseArgs } from 'node:util';
import { CliError, EXIT, WarmpodClient } from './client';
import * as commands from './commands';

const USAGE = `usage: warmpod [--url URL] [--token TOKEN] [--output json] COMMAND
  run IMAGE [--port N]... [--env K=V]... [--wait]   admit a pod (--wait: until Running; exit 5 if it ended)
  ps | get ID | rm ID | logs ID [-f]                 pods
  nodes | pools | checkpoints                        cluster state
  images warm IMAGE                                  pin and warm an image, per-node progress
  events [POD] [--since EVENT_ID]                    follow the live events (the tenant's, or one pod's)
The gateway URL and token also come from WARMPOD_URL and WARMPOD_TOKEN.
Exit codes: 0 ok, 1 the API refused or failed, 2 usage, 3 no or bad token, 4 gateway unreachable, 5 the pod ended.`;

/** Runs one command line; returns the exit code. Writes results to `write`, the one error line to `fail`. */
export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
  write: (line: string) => void,
  fail: (line: string) => void,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        output: { type: 'string', short: 'o' },
        port: { type: 'string', short: 'p', multiple: true },
        env: { type: 'string', short: 'e', multiple: true },
        wait: { type: 'boolean' },
        follow: { type: 'boolean', short: 'f' },
        timeout: { type: 'string' },
        since: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(`warmpod: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.usage;
  }
  const {
    values: v,
    positionals: [command, ...args],
  } = parsed;
  if (v.help || !command) {
    (v.help ? write : fail)(USAGE);
    return v.help ? EXIT.ok : EXIT.usage;
  }
  if (v.output !== undefined && v.output !== 'json') {
    fail(`warmpod: --output takes "json", not "${v.output}"`);
    return EXIT.usage;
  }
  const token = v.token ?? env['WARMPOD_TOKEN'];
  if (!token) {
    fail('warmpod: no token: pass --token or set WARMPOD_TOKEN');
    return EXIT.noToken;
  }
  const url = (v.url ?? env['WARMPOD_URL'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const client = new WarmpodClient(url, token);
  const out = { json: v.output === 'json', line: write };
  const timeoutMs = Number(v.timeout ?? 300) * 1000;
  const one = (what: string): string => {
    if (args.length !== 1) throw new CliError(EXIT.usage, `warmpod: ${command} takes one ${what}\n${USAGE}`);
    return args[0]!;
  };
  try {
    switch (command) {
      case 'run': {
        const ports = (v.port ?? []).map((p) => {
          const n = Number(p);
          if (!Number.isInteger(n) || n < 1 || n > 65535) throw new CliError(EXIT.usage, `warmpod: --port ${p} is not a port number`);
          return n;
        });
        const envMap: Record<string, string> = {};
        for (const pair of v.env ?? []) {
          const eq = pair.indexOf('=');
          if (eq < 1) throw new CliError(EXIT.usage, `warmpod: --env ${pair} is not KEY=VALUE`);
          envMap[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        return await commands.run(client, out, { image: one('IMAGE'), ports, env: envMap, wait: v.wait ?? false, timeoutMs });
      }
      case 'ps':
        return await commands.ps(client, out);
      case 'get':
        return await commands.get(client, out, one('pod id'));
      case 'rm':
        return await commands.rm(client, out, one('pod id'));
      case 'logs':
        return await commands.logs(client, out, one('pod id'), v.follow ?? false);
      case 'nodes':
        return await commands.nodes(client, out);
      case 'pools':
        return await commands.pools(client, out);
      case 'checkpoints':
        return await commands.checkpoints(client, out);
      case 'events':
        return await commands.events(client, out, args[0], v.since);
      case 'images':
        if (args[0] !== 'warm' || args.length !== 2) throw new CliError(EXIT.usage, `warmpod: images warm IMAGE\n${USAGE}`);
        return await commands.warm(client, out, args[1]!, timeoutMs);
      default:
        throw new CliError(EXIT.usage, `warmpod: unknown command "${command}"\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof CliError) {
      fail(error.message);
      return error.exitCode;
    }
    fail(`warmpod: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.apiError;
  }
}
