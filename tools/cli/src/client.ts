import type { z } from 'zod';
import { errorSchema } from './api-schemas';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, apiError: 1, usage: 2, noToken: 3, unreachable: 4, podFailed: 5 } as const;

/** A failure with the one line to print and the exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A small typed client of the gateway's REST API: bearer token, JSON, answers validated with zod. */
export class WarmpodClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /** One request; `stream` (an event stream) lifts the time limit, which would otherwise cut the body off. */
  async send(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}, stream = false): Promise<Response> {
    const headers: Record<string, string> = { ...extraHeaders, authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(stream ? {} : { signal: AbortSignal.timeout(this.timeoutMs) }),
      });
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new CliError(EXIT.unreachable, `warmpod: gateway ${this.baseUrl} unreachable (${cause})`);
    }
  }

  /** A JSON answer validated by `schema`; an API error becomes a CliError with its code and message. */
  async json<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    const text = await res.text();
    if (!res.ok) throw apiError(res.status, text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(EXIT.apiError, `warmpod: ${method} ${path} answered ${res.status} with something that is not JSON`);
    }
    const checked = schema.safeParse(parsed);
    if (!checked.success) throw new CliError(EXIT.apiError, `warmpod: unexpected answer to ${method} ${path}: ${checked.error.message}`);
    return checked.data;
  }

  /** The CliError of a refused answer. */
  async failure(res: Response): Promise<CliError> {
    return apiError(res.status, await res.text());
  }

  async text(path: string): Promise<string> {
    const res = await this.send('GET', path);
    const text = await res.text();
    if (!res.ok) throw apiError(res.status, text);
    return text;
  }
}

function apiError(status: number, text: string): CliError {
  let message = `HTTP ${status}`;
  try {
    const parsed = errorSchema.safeParse(JSON.parse(text));
    if (parsed.success) message = `${parsed.data.error.code}: ${parsed.data.error.message} (HTTP ${status})`;
  } catch {
    // not JSON: the status says enough
  }
  return new CliError(status === 401 ? EXIT.noToken : EXIT.apiError, `warmpod: ${message}`);
}
