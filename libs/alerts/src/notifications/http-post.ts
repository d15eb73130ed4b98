import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkLiteralHost, guardedLookup, parseTargetUrl, TargetRefusedError } from './target-guard.js';

export interface HttpPostOptions {
  timeoutMs: number;
  /** Response bytes kept; the rest of the body is not read (the socket is closed). */
  maxResponseBytes: number;
  allowPrivateTargets: boolean;
}

export interface HttpPostResult {
  statusCode: number;
  latencyMs: number;
  /** The first bytes of the response body, as text. */
  body: string;
  /** The body was longer than maxResponseBytes and cut off. */
  truncated: boolean;
}

/** A send that failed before any status code: timeout, connection refused, SSRF refusal. */
export class SendError extends Error {
  override readonly name = 'SendError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly latencyMs: number,
  ) {
    super(message);
  }
}

/**
 * POSTs a JSON body with a hard overall deadline (connect, headers and body together): a receiver
 * that accepts the connection and never answers, or trickles its answer, is cut off at timeoutMs.
 * Redirects are not followed (a 3xx is a failed attempt: following one would skip the SSRF check).
 */
export function postJson(rawUrl: string, body: string, headers: Record<string, string>, options: HttpPostOptions): Promise<HttpPostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = parseTargetUrl(rawUrl);
    checkLiteralHost(url, options.allowPrivateTargets);
  } catch (err) {
    return Promise.reject(new SendError((err as Error).message, false, 0));
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<HttpPostResult>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'pos-fleet-notifier/1',
          ...headers,
        },
        lookup: guardedLookup(options.allowPrivateTargets),
        // One connection per send: no pooled socket outlives the SSRF check of its own request.
        agent: false,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let truncated = false;
        const done = () =>
          finish(() => resolve({ statusCode: res.statusCode ?? 0, latencyMs: elapsed(), body: Buffer.concat(chunks).toString('utf8'), truncated }));
        res.on('data', (chunk: Buffer) => {
          const room = options.maxResponseBytes - kept;
          if (room > 0) {
            chunks.push(chunk.subarray(0, room));
            kept += Math.min(room, chunk.length);
          }
          if (chunk.length > room) {
            // Enough: the status code is what counts; stop reading and drop the connection.
            truncated = true;
            res.destroy();
            req.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', () => done());
        res.on('close', done);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish(() => reject(new SendError(`no complete answer within ${options.timeoutMs} ms`, true, elapsed())));
    }, options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      const refused = err instanceof TargetRefusedError;
      finish(() => reject(new SendError(refused ? err.message : `${err.code ?? 'error'}: ${err.message}`, !refused, elapsed())));
    });
    req.end(body);
  });
}
