import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BrokerService, type CommandRouting } from '#broker';
import { CommandType, RejectReason, topics, type Command, type CommandAck } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { BatchWriter, IngestService, isDataError } from '#ingest';
import { DownloadUrlService } from '#ota';
import { MetricsService } from '#observability';
import { Counter } from 'prom-client';
import { COMMAND_CLOCK, type CommandClock } from './command-clock.js';
import type { CommandDispatchPort } from './command-dispatch.port.js';
import { CommandListener } from './command-listener.js';
import { toReportedState } from './command-state.js';
import { CommandsRepository, type AckReport, type CommandRow } from './commands.repository.js';
import { commandTimeouts, resolveNotify } from './commands.service.js';

/** Terminals looked up per query (reconnect storms are batched into such chunks). */
const LOOKUP_CHUNK = 1000;
/** Commands claimed per query. */
const CLAIM_LIMIT = 5000;
/** How long the reconnect queue gathers terminals before one lookup. */
const GATHER_MS = 10;
const ACK_BUFFER_ROWS = 10_000;
const DUE_SCAN_LIMIT = 50_000;
/** Command publishes in flight at once (below aedes' emitter concurrency of 100). */
const PUBLISH_WINDOW = 32;

export function commandMessage(row: CommandRow): Command {
  return {
    v: 1,
    id: row.id,
    type: row.type,
    issuedAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    params: row.payload,
  };
}

/**
 * The gateway side of the command ledger. Publishes due commands (queued, or sent and past the
 * resend deadline) QoS 1 to terminals connected to this broker: when they become ready (connect +
 * command subscription), when a command is created here or NOTIFYed by another process, and from
 * a periodic sweep that also ends timed-out commands. Acks are written in batches.
 */
@Injectable()
export class CommandDispatcher implements CommandRouting, CommandDispatchPort, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('CommandDispatcher');
  /** Terminals whose due commands to look up (bounded by the connections of this broker). */
  private readonly ready = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private listener: CommandListener | null = null;
  private readonly acks: BatchWriter<AckReport>;
  private stopped = false;
  private readonly published: Counter<'result'>;
  private readonly acksReceived: Counter<'state'>;
  private readonly acksRefused: Counter<'reason'>;
  private readonly ended: Counter<'cause'>;
  /** Signs ota.install download URLs afresh on every publish; null when no URL key is configured. */
  private readonly urls: DownloadUrlService | null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BrokerService) private readonly broker: BrokerService,
    @Inject(CommandsRepository) private readonly repo: CommandsRepository,
    @Inject(IngestService) private readonly ingest: IngestService,
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
    @Inject(MetricsService) metrics: MetricsService,
  ) {
    const registers = [metrics.registry];
    this.published = new Counter({
      name: 'fleet_commands_published_total',
      help: 'Command publishes to terminals by result (ok, failed)',
      labelNames: ['result'],
      registers,
    });
    this.acksReceived = new Counter({ name: 'fleet_commands_acks_total', help: 'Command acks recorded, by reported state', labelNames: ['state'], registers });
    this.acksRefused = new Counter({
      name: 'fleet_commands_acks_refused_total',
      help: 'Command acks refused and dead-lettered (unknown or foreign command id)',
      labelNames: ['reason'],
      registers,
    });
    this.ended = new Counter({
      name: 'fleet_commands_ended_total',
      help: 'Commands ended by the sweep, by cause (expired, no_ack, step_timeout, version_mismatch)',
      labelNames: ['cause'],
      registers,
    });
    this.urls = (() => {
      try {
        return new DownloadUrlService(config);
      } catch (err) {
        this.logger.warn(`ota.install commands keep the download URL they were created with: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      }
    })();
    const t = commandTimeouts(config);
    this.acks = new BatchWriter<AckReport>({
      name: 'command_acks',
      maxBatchRows: 500,
      maxWaitMs: config.ingest.batchMaxWaitMs,
      maxBufferedRows: ACK_BUFFER_ROWS,
      admissionTimeoutMs: config.ingest.ackTimeoutMs,
      concurrency: 1,
      retryBaseMs: 50,
      retryMaxMs: config.ingest.retryMaxBackoffMs,
      isDataError,
      write: async (reports) => {
        const result = await this.repo.applyReports(reports, t);
        const refused = new Set(result.refused.map((r) => r.report));
        for (const r of reports) if (!refused.has(r)) this.acksReceived.inc({ state: r.state });
        for (const r of result.refused) {
          this.acksRefused.inc({ reason: r.reason });
          const reason = r.reason === 'foreign_command' ? RejectReason.ForeignCommand : RejectReason.UnknownCommand;
          this.ingest.reject(r.report.sn, topics.commandAck(r.report.sn), reason, r.detail, r.report.payload);
        }
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.broker.setCommandRouting(this);
    const url = this.config.database.url;
    if (url && (await resolveNotify(this.config, this.repo))) {
      this.listener = new CommandListener(
        url,
        (_id, sn) => this.enqueue(sn),
        () => void this.sweep(),
      );
      await this.listener.start();
    }
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.commands.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    // Routing stays: an ack arriving after the writer closed is refused (connection closed, no
    // PUBACK), so the terminal sends it again to the next gateway instead of it being lost.
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.timer) clearTimeout(this.timer);
    await this.listener?.stop();
    await this.flushing;
    await this.sweeping;
    await this.acks.close();
  }

  // ---- CommandDispatchPort / CommandRouting ----

  created(_id: string, sn: string): void {
    this.enqueue(sn);
  }

  onTerminalReady(sn: string): void {
    this.enqueue(sn);
  }

  async onAck(sn: string, ack: CommandAck, payload: Buffer): Promise<void> {
    const now = this.clock.now();
    const detail = ack.error ?? null;
    await this.acks.submit({
      sn,
      id: ack.id,
      state: toReportedState(ack.status),
      reason: ack.reason ?? null,
      detail: ack.version ? `${detail ? `${detail}; ` : ''}version ${ack.version}` : detail,
      progress: ack.progress ?? null,
      reportedAt: new Date(ack.ts),
      receivedAt: now,
      payload: Buffer.from(payload),
    });
  }

  // ---- dispatch ----

  private enqueue(sn: string): void {
    if (this.stopped || !this.broker.isConnected(sn)) return;
    this.ready.add(sn);
    if (!this.timer && !this.flushing) this.timer = setTimeout(() => this.startFlush(), GATHER_MS);
  }

  private startFlush(): void {
    this.timer = null;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.ready.size > 0 && !this.stopped) this.timer = setTimeout(() => this.startFlush(), GATHER_MS);
    });
  }

  private async flush(): Promise<void> {
    const t = commandTimeouts(this.config);
    while (this.ready.size > 0 && !this.stopped) {
      const sns: string[] = [];
      for (const sn of this.ready) {
        sns.push(sn);
        if (sns.length === LOOKUP_CHUNK) break;
      }
      for (const sn of sns) this.ready.delete(sn);
      const connected = sns.filter((sn) => this.broker.isConnected(sn));
      let rows: CommandRow[];
      try {
        rows = await this.repo.claimDue(connected, this.clock.now(), t, CLAIM_LIMIT);
      } catch (err) {
        // Back in the queue; the next flush (after a pause) retries.
        for (const sn of connected) this.ready.add(sn);
        this.logger.warn(`pending-command lookup failed: ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((r) => setTimeout(r, 1000).unref());
        return;
      }
      if (rows.length >= CLAIM_LIMIT) for (const sn of connected) this.ready.add(sn);
      await this.publishAll(rows);
    }
  }

  /**
   * The message of one publish. An ota.install carries a download URL signed now for this terminal
   * and command (the stored one may have expired while the command was queued, deferred or unacked);
   * the command's id and everything else stay as stored.
   */
  private message(row: CommandRow): Command {
    const message = commandMessage(row);
    const { releaseId, url } = row.payload;
    if (row.type !== CommandType.OtaInstall || !this.urls || typeof releaseId !== 'string' || typeof url !== 'string') return message;
    try {
      const fresh = this.urls.reissueDownloadUrl(url, { releaseId, sn: row.sn, commandId: row.id, now: this.clock.now() });
      return fresh === null ? message : { ...message, params: { ...row.payload, url: fresh } };
    } catch {
      return message; // a payload the signer refuses (not a uuid release id): sent as stored
    }
  }

  /**
   * Publishes with at most PUBLISH_WINDOW in flight: aedes' emitter queues publishes beyond its
   * concurrency and drains that queue recursively, so thousands at once overflow the stack.
   */
  private async publishAll(rows: readonly CommandRow[]): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < rows.length) {
        const row = rows[next++];
        // A publish that fails (terminal just left) is resent after the resend timeout.
        await this.broker.publishCommand(row.sn, Buffer.from(JSON.stringify(this.message(row)))).then(
          () => this.published.inc({ result: 'ok' }),
          () => this.published.inc({ result: 'failed' }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_WINDOW, rows.length) }, lane));
  }

  /**
   * Ends timed-out commands, then queues the terminals of this broker with due commands (the
   * durable fallback for a lost NOTIFY or a failed publish). Several gateways may run it at once:
   * every change is a conditional UPDATE.
   */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const now = this.clock.now();
        const t = commandTimeouts(this.config);
        const ended = await this.repo.sweepTimeouts(now, t);
        this.ended.inc({ cause: 'expired' }, ended.expired);
        this.ended.inc({ cause: 'no_ack' }, ended.noAck);
        this.ended.inc({ cause: 'step_timeout' }, ended.stepTimeout);
        this.ended.inc({ cause: 'version_mismatch' }, ended.versionMismatch);
        if (ended.expired + ended.noAck + ended.stepTimeout + ended.versionMismatch > 0) this.logger.log(`commands ended: ${JSON.stringify(ended)}`);
        for (const sn of await this.repo.dueTerminals(now, t, DUE_SCAN_LIMIT)) this.enqueue(sn);
      } catch (err) {
        this.logger.warn(`command sweep failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.sweeping = null;
      }
    })();
    return this.sweeping;
  }

  /** Resolves when nothing is queued for dispatch (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.timer || this.flushing || this.ready.size > 0) {
      await (this.flushing ?? new Promise((r) => setTimeout(r, GATHER_MS)));
    }
  }
}
