import { Inject, Injectable, Logger } from '@nestjs/common';
import { checkHeartbeatFast, HEARTBEAT_SCHEMA_VERSION, heartbeatSchema, parsePayload, RejectReason, type ParseResult, type Heartbeat } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { MetricsService } from '#observability';
import { BatchWriter, type WriteOutcome } from './batch-writer.js';
import { DeadLetterRepository, type DeadLetter } from './dead-letter.repository.js';
import { encodeHeartbeatRow, HeartbeatRepository } from './heartbeat.repository.js';
import { isDataError, StorageRejectReason, type IngestRejectReason } from './ingest.errors.js';
import { PresenceRepository, type PresenceEvent, type PresenceOwner } from './presence.repository.js';
import { type Lane, TurnScheduler } from './turn-scheduler.js';

export type HeartbeatOutcome = { stored: true } | { stored: false; reason: IngestRejectReason; detail: string };

/** Settles one heartbeat: an error (AckTimeoutError, WriterClosedError: no PUBACK) or its outcome. */
export type HeartbeatCallback = (err: Error | null, outcome: HeartbeatOutcome | null) => void;

/**
 * An accepted heartbeat until its batch commits: the row already encoded (encodeHeartbeatRow) and
 * the payload (aedes holds it until the PUBACK anyway) for a dead letter. Nothing else is held, so
 * young-generation GCs, which copy everything in flight, stay short.
 */
interface PendingHeartbeat {
  sn: string;
  row: string;
  payload: Buffer;
  done: HeartbeatCallback;
}

/** A heartbeat waiting for validation. */
interface Received {
  sn: string;
  topic: string;
  payload: Buffer;
  done: HeartbeatCallback;
}

const DEAD_LETTER_BUFFER_ROWS = 5_000;
const SUPPORTED_VERSIONS = [HEARTBEAT_SCHEMA_VERSION];
const STORED: HeartbeatOutcome = Object.freeze({ stored: true });
const REFUSED_BY_DATABASE: HeartbeatOutcome = Object.freeze({ stored: false, reason: StorageRejectReason, detail: 'the database refused the row' });
const PRESENCE_BUFFER_ROWS = 50_000;

/**
 * The write side of the gateway: validates heartbeats and hands them to bounded batch writers for
 * heartbeats, presence events and dead letters. Presence and dead letters are best effort (dropped
 * and counted when their buffer is full); heartbeats are never dropped once accepted.
 */
@Injectable()
export class IngestService {
  private readonly logger = new Logger('Ingest');
  private readonly heartbeats: BatchWriter<PendingHeartbeat>;
  private readonly presence: BatchWriter<PresenceEvent>;
  private readonly deadLetters: BatchWriter<DeadLetter>;
  private presenceOrd = 0;
  /**
   * One per-turn budget for the gateway's CPU-bound work per heartbeat: validation (the
   * `toValidate` lane) and PUBACK release after a commit (the heartbeat writer's lane).
   */
  private readonly turns: TurnScheduler;
  /** Heartbeats waiting for validation; see acceptHeartbeat. */
  private readonly toValidate: Lane<Received>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(HeartbeatRepository) heartbeatRepo: HeartbeatRepository,
    @Inject(PresenceRepository) presenceRepo: PresenceRepository,
    @Inject(DeadLetterRepository) deadLetterRepo: DeadLetterRepository,
  ) {
    const ingest = config.ingest;
    this.turns = new TurnScheduler({ maxUnitsPerTurn: ingest.turnMaxUnits, maxTurnMs: ingest.turnBudgetMs });
    this.toValidate = this.turns.lane<Received>('validate', (received) => this.ingestValidated(received));
    // Leave a connection for presence, dead letters and health checks.
    const concurrency = Math.max(1, Math.min(4, config.database.poolSize - 2));
    const common = {
      maxWaitMs: ingest.batchMaxWaitMs,
      admissionTimeoutMs: ingest.ackTimeoutMs,
      retryBaseMs: 50,
      retryMaxMs: ingest.retryMaxBackoffMs,
      isDataError,
    };
    this.heartbeats = new BatchWriter<PendingHeartbeat>({
      ...common,
      name: 'heartbeats',
      maxBatchRows: ingest.batchMaxRows,
      maxBufferedRows: ingest.bufferMaxRows,
      concurrency,
      scheduler: this.turns,
      write: async (pending) => {
        const inserted = await heartbeatRepo.insertEncoded(pending.map((p) => p.row));
        metrics.heartbeatsStored.inc(inserted);
        metrics.heartbeatsDuplicate.inc(pending.length - inserted);
      },
      hooks: this.hooks<PendingHeartbeat>('heartbeats', (p, err) =>
        this.deadLetter({ clientId: p.sn, topic: 'heartbeat', reason: StorageRejectReason, detail: String(err), payload: p.payload }),
      ),
    });
    this.presence = new BatchWriter<PresenceEvent>({
      ...common,
      name: 'presence',
      maxBatchRows: ingest.batchMaxRows,
      maxBufferedRows: PRESENCE_BUFFER_ROWS,
      concurrency: 1,
      write: (events) => presenceRepo.insertBatch(events),
      hooks: this.hooks('presence'),
    });
    this.deadLetters = new BatchWriter<DeadLetter>({
      ...common,
      name: 'dead_letters',
      maxBatchRows: 500,
      maxBufferedRows: DEAD_LETTER_BUFFER_ROWS,
      concurrency: 1,
      write: (letters) => deadLetterRepo.insertBatch(letters),
      // Text is made storable first (DeadLetterRepository); a letter refused anyway is at least counted.
      hooks: this.hooks<DeadLetter>('dead_letters', (letter, err) => {
        this.metrics.droppedWrites.inc({ stream: 'dead_letters' });
        this.logger.error(`dead letter (${letter.reason}, ${letter.topic}) refused by the database: ${String(err)}`);
      }),
    });
  }

  private hooks<T>(stream: string, onRejected?: (item: T, err: unknown) => void) {
    return {
      onCommit: (rows: number, seconds: number) => {
        this.metrics.batchSize.observe({ stream }, rows);
        this.metrics.commitSeconds.observe({ stream }, seconds);
        this.metrics.databaseUp.set(1);
      },
      onError: (err: unknown, rows: number, attempt: number) => {
        this.metrics.commitErrors.inc({ stream });
        if (!isDataError(err)) this.metrics.databaseUp.set(0);
        if (attempt === 1 || attempt % 20 === 0) {
          this.logger.warn(`${stream}: batch of ${rows} failed (attempt ${attempt}), retrying: ${err instanceof Error ? err.message : String(err)}`);
        }
      },
      onRejected,
      onDepth: (buffered: number, waiting: number) => {
        this.metrics.bufferRows.set({ stream }, buffered);
        this.metrics.waitingPublishers.set({ stream }, waiting);
      },
    };
  }

  /** Parses and validates; does not store. */
  parseHeartbeat(payload: Buffer, now = Date.now()): ParseResult<Heartbeat> {
    const parsed = parsePayload(payload, heartbeatSchema, {
      maxBytes: this.config.heartbeat.maxBytes,
      supportedVersions: SUPPORTED_VERSIONS,
      // One pass for valid heartbeats; anything else is decided and worded by the schema.
      fast: checkHeartbeatFast,
    });
    if (!parsed.ok) return parsed;
    const ts = Date.parse(parsed.value.ts);
    const { maxFutureSkewS, maxAgeS } = this.config.heartbeat;
    if (ts > now + maxFutureSkewS * 1000 || ts < now - maxAgeS * 1000) {
      return {
        ok: false,
        reason: RejectReason.ClockSkew,
        detail: `ts ${parsed.value.ts} is outside [now - ${maxAgeS} s, now + ${maxFutureSkewS} s]`,
      };
    }
    return parsed;
  }

  /**
   * Calls `done` once the heartbeat is committed (then it may be acknowledged) or rejected
   * (dead-lettered; acknowledge too, a retry cannot succeed), or with AckTimeoutError when the buffer
   * stayed full. A callback, not a promise: the broker's hot path holds it until the commit. `done`
   * is called once, never from inside this call.
   */
  acceptHeartbeat(sn: string, topic: string, payload: Buffer, done: HeartbeatCallback): void {
    // Validated later, under the shared per-turn budget: thousands of terminals whose PUBACKs went
    // out together publish again together, and validating all of them in the I/O phase that read
    // them would hold the loop (timers, keep-alives, CONNACKs) for that long. The queue is bounded
    // by the connections: aedes reads no more from a client until every packet of its previous
    // read has been handled (and each connection's unacknowledged publishes are capped). Holding the
    // payload until then is safe: each socket read is a fresh buffer that nothing reuses.
    this.toValidate.push({ sn, topic, payload, done });
  }

  private ingestValidated({ sn, topic, payload, done }: Received): void {
    const now = Date.now();
    const parsed = this.parseHeartbeat(payload, now);
    if (!parsed.ok) {
      this.reject(sn, topic, parsed.reason, parsed.detail, payload);
      return done(null, { stored: false, reason: parsed.reason, detail: parsed.detail });
    }
    this.metrics.heartbeatsReceived.inc();
    // Encoded now: the parsed tree dies young instead of being held (and copied by every
    // scavenge) until the commit.
    const row = encodeHeartbeatRow({ time: new Date(parsed.value.ts), sn, receivedAt: new Date(now), heartbeat: parsed.value, extra: parsed.extra });
    this.heartbeats.submitWith({ sn, row, payload, done }, this.settleHeartbeat);
  }

  /** One function for every heartbeat's batch outcome (the heartbeat carries its own callback). */
  private readonly settleHeartbeat = (err: Error | null, outcome: WriteOutcome | null, p: PendingHeartbeat): void => {
    if (err) return p.done(err, null);
    if (outcome !== 'rejected') return p.done(null, STORED);
    this.metrics.rejected.inc({ reason: StorageRejectReason });
    p.done(null, REFUSED_BY_DATABASE);
  };

  /** Counts and keeps a rejected message. */
  reject(clientId: string | null, topic: string, reason: IngestRejectReason, detail: string, payload: Buffer): void {
    this.metrics.rejected.inc({ reason });
    this.deadLetter({ clientId, topic, reason, detail, payload });
  }

  private deadLetter(input: { clientId: string | null; topic: string; reason: string; detail: string; payload: Buffer }): void {
    const max = this.config.deadLetter.maxPayloadBytes;
    const truncated = input.payload.length > max;
    const accepted = this.deadLetters.tryOffer({
      receivedAt: new Date(),
      clientId: input.clientId,
      topic: input.topic,
      reason: input.reason,
      detail: input.detail.slice(0, 2000),
      payloadSize: input.payload.length,
      // Copy: the MQTT parser may reuse the underlying buffer.
      payload: Buffer.from(truncated ? input.payload.subarray(0, max) : input.payload),
      truncated,
    });
    if (!accepted) this.metrics.droppedWrites.inc({ stream: 'dead_letters' });
  }

  /** `owner`: the connection (gateway session and epoch) the event is about; see PresenceRepository. */
  recordPresence(sn: string, online: boolean, reason: string, remoteIp: string | null, owner: PresenceOwner): void {
    this.metrics.presenceEvents.inc({ reason });
    const accepted = this.presence.tryOffer({ time: new Date(), sn, online, reason, remoteIp, ord: ++this.presenceOrd, ...owner });
    if (!accepted) this.metrics.droppedWrites.inc({ stream: 'presence' });
  }

  /** Writes everything held; called by the broker after it stopped accepting messages. */
  async close(): Promise<void> {
    // Heartbeats read before the broker stopped are validated and written, not refused.
    await this.turns.idle();
    await Promise.all([this.heartbeats.close(), this.presence.close()]);
    await this.deadLetters.close();
  }
}
