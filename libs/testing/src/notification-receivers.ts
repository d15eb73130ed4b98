import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SMTPServer } from 'smtp-server';

/** Test helpers (integration specs only): a real HTTP receiver and a real SMTP server. */

/**
 * The webhook check a receiver does, written from docs/alerts.md, not with the code under test:
 * `X-Fleet-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, timestamp within 5 min.
 */
function webhookSignatureOk(secret: string, timestamp: string, body: string, header: string): boolean {
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface Receipt {
  path: string;
  name: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown> | null;
  /** Webhook: HMAC verified against the name's secret; DingTalk: sign verified. */
  signatureOk: boolean | null;
}

/** A planned answer for the next request to a name: a status code, or 'hang' (never answer). */
export type Planned = number | 'hang';

export interface TestReceiver {
  url: string;
  receipts: Receipt[];
  secrets: Map<string, string>;
  plan(name: string, answers: Planned[]): void;
  byName(name: string): Receipt[];
  /** Bytes the /huge endpoint managed to write before the client hung up. */
  hugeBytesWritten: number;
  close(): Promise<void>;
}

const HUGE_TOTAL = 200 * 1024 * 1024;

function parseJson(body: string): Record<string, unknown> | null {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/**
 * Paths: /hook/<name> (our webhook: verifies X-Fleet-Signature with secrets.get(name)),
 * /wecom/<name>, /dingtalk/<name> (verifies timestamp + sign with secrets.get(name)), /huge/<name>
 * (answers 200 with a 200 MiB body, written only as fast as the client reads).
 */
export async function startTestReceiver(): Promise<TestReceiver> {
  const receipts: Receipt[] = [];
  const secrets = new Map<string, string>();
  const plans = new Map<string, Planned[]>();
  const state = { hugeBytesWritten: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const [, kind = '', name = ''] = url.pathname.split('/');
      const body = Buffer.concat(chunks).toString('utf8');
      const json = parseJson(body);
      let signatureOk: boolean | null = null;
      const secret = secrets.get(name);
      if (kind === 'hook' && secret) {
        signatureOk = webhookSignatureOk(secret, String(req.headers['x-fleet-timestamp']), body, String(req.headers['x-fleet-signature']));
      }
      if (kind === 'dingtalk' && secret) {
        const ts = url.searchParams.get('timestamp') ?? '';
        const expected = createHmac('sha256', secret).update(`${ts}\n${secret}`).digest('base64');
        signatureOk = url.searchParams.get('sign') === expected && Math.abs(Date.now() - Number(ts)) < 3_600_000;
      }
      receipts.push({ path: url.pathname + url.search, name, headers: req.headers, body, json, signatureOk });
      const planned = plans.get(name)?.shift();
      if (planned === 'hang') return; // keep the socket open, never answer
      if (kind === 'huge') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 120);
        const pump = () => {
          while (state.hugeBytesWritten < HUGE_TOTAL && !res.destroyed) {
            state.hugeBytesWritten += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('error', () => undefined);
        pump();
        return;
      }
      const status = planned ?? 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      if (kind === 'wecom' || kind === 'dingtalk')
        res.end(JSON.stringify(signatureOk === false ? { errcode: 310000, errmsg: 'sign not match' } : { errcode: 0, errmsg: 'ok' }));
      else res.end(JSON.stringify({ received: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    receipts,
    secrets,
    plan: (name, answers) => plans.set(name, [...answers]),
    byName: (name) => receipts.filter((r) => r.name === name),
    get hugeBytesWritten() {
      return state.hugeBytesWritten;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CapturedMail {
  from: string;
  to: string[];
  raw: string;
}

export interface TestSmtp {
  port: number;
  mails: CapturedMail[];
  close(): Promise<void>;
}

/** A real SMTP server (smtp-server) on 127.0.0.1 that keeps every message it accepts. */
export async function startTestSmtp(): Promise<TestSmtp> {
  const mails: CapturedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        mails.push({
          from: from ? from.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The decoded text of a MIME part whose headers contain `marker` (base64 or plain). */
export function mimePart(raw: string, marker: string): string | null {
  const at = raw.indexOf(marker);
  if (at === -1) return null;
  const headerEnd = raw.indexOf('\r\n\r\n', at);
  const headers = raw.slice(raw.lastIndexOf('\r\n--', at), headerEnd);
  const rest = raw.slice(headerEnd + 4);
  const body = rest.slice(0, rest.indexOf('\r\n--'));
  return /base64/i.test(headers) ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8') : body;
}
