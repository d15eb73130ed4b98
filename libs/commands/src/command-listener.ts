import { Logger } from '@nestjs/common';
import pg from 'pg';
import { COMMANDS_CHANNEL } from './commands.repository.js';

/**
 * LISTEN on one dedicated connection (not from the pool), reconnecting with capped backoff.
 * `onResume` runs after every (re)connect but the first: NOTIFYs sent while it was down are lost,
 * so the owner catches up with a sweep.
 */
export class CommandListener {
  private readonly logger = new Logger('CommandListener');
  private client: pg.Client | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly url: string,
    private readonly onNotify: (id: string, sn: string) => void,
    private readonly onResume: () => void,
  ) {}

  /** Resolves once the first LISTEN is in place (or failed once; the loop keeps trying). */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.loop = this.run(resolve);
    });
  }

  private async run(firstDone: () => void): Promise<void> {
    let attempt = 0;
    let connectedBefore = false;
    while (!this.stopped) {
      const client = new pg.Client({ connectionString: this.url, application_name: 'command-listener', connectionTimeoutMillis: 10_000 });
      const ended = new Promise<void>((resolve) => {
        client.once('end', () => resolve());
        client.on('error', (err) => {
          this.logger.warn(`listener connection error: ${err.message}`);
          void client.end().catch(() => undefined);
        });
      });
      client.on('notification', (msg) => {
        if (msg.channel !== COMMANDS_CHANNEL || !msg.payload) return;
        try {
          const { id, sn } = JSON.parse(msg.payload) as { id?: unknown; sn?: unknown };
          if (typeof id === 'string' && typeof sn === 'string') this.onNotify(id, sn);
        } catch {
          // not ours
        }
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${COMMANDS_CHANNEL}`);
        // stop() came while this connection was being made (it ends only a listening one: pg's end()
        // during a connect leaves the connect pending forever): end it here, or the loop would wait on it.
        if (this.stopped) {
          await client.end().catch(() => undefined);
          break;
        }
        this.client = client;
        attempt = 0;
        if (connectedBefore) this.onResume();
        connectedBefore = true;
        firstDone();
        await ended;
      } catch (err) {
        this.logger.warn(`listener cannot LISTEN: ${err instanceof Error ? err.message : String(err)}`);
        await client.end().catch(() => undefined);
        firstDone();
      }
      this.client = null;
      if (this.stopped) break;
      attempt++;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.min(10_000, 100 * 2 ** Math.min(attempt, 7))).unref();
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.client?.end().catch(() => undefined);
    await this.loop;
  }
}
