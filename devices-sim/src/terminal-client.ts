/**
 * One simulated terminal on the wire: an mqtt.js client per connection, heartbeats from the terminal model,
 * a small outbox that retransmits unacknowledged heartbeats after reconnecting, retained presence with an
 * offline Last Will, the commands topic, and reconnects driven by full-jitter exponential backoff.
 */
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { commandSchema, parsePayload, topics, type CommandAck, type PresenceMessage, type TerminalCredentials } from '#contracts';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { TerminalProfile } from './fleet-generator.js';
import { HeartbeatOutbox } from './heartbeat-outbox.js';
import { Prng, deriveSeed } from './prng.js';
import type { ErrorKind, SimStats } from './sim-stats.js';
import { formatLocalTimestamp, hasNetwork, initialTerminalState, nextHeartbeat, type TerminalState } from './terminal-model.js';

export interface TerminalRuntimeOptions {
  readonly brokerUrl: string;
  readonly intervalMs: number;
  readonly qos: 0 | 1;
  readonly includeLocation: boolean;
  readonly backoff: BackoffOptions;
  /** Heartbeats kept while unacknowledged or waiting (newest wins). */
  readonly outboxCapacity: number;
  /** Heartbeats awaiting PUBACK at once on a connection. */
  readonly maxInflight: number;
  readonly keepaliveS: number;
  readonly connectTimeoutMs: number;
  /** A connection that stayed up this long resets the backoff. */
  readonly stableAfterMs: number;
}

export const DEFAULT_RUNTIME: Omit<TerminalRuntimeOptions, 'brokerUrl'> = {
  intervalMs: 60_000,
  qos: 1,
  includeLocation: false,
  backoff: DEFAULT_BACKOFF,
  outboxCapacity: 5,
  maxInflight: 1,
  keepaliveS: 60,
  connectTimeoutMs: 30_000,
  stableAfterMs: 10_000,
};

export interface TerminalLogger {
  info(message: string): void;
  /** Rate-limited by kind. */
  limited(kind: string, message: string): void;
}

/** Largest command payload the simulator parses. */
const COMMAND_MAX_BYTES = 65_536;
export const COMMAND_REJECT_REASON = 'not implemented in simulator';

function classifyError(err: Error & { code?: string | number }): ErrorKind {
  if (typeof err.code === 'number') return err.code === 4 || err.code === 5 ? 'auth' : 'protocol';
  if (/keepalive/i.test(err.message)) return 'keepalive';
  return 'connect';
}

export class SimulatedTerminal {
  private state: TerminalState | null = null;
  private readonly outbox: HeartbeatOutbox;
  private readonly rng: Prng;
  private client: MqttClient | null = null;
  /** Incremented for every connection and on every deliberate drop; events from older epochs are ignored. */
  private epoch = 0;
  /** Epoch of the connection that is currently up (CONNACK received), or null. */
  private liveEpoch: number | null = null;
  private connectedAt = 0;
  private hadConnection = false;
  private attempt = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private nextTickAt = 0;
  private publishing = false;
  private stopped = false;

  constructor(
    readonly profile: TerminalProfile,
    private readonly credentials: TerminalCredentials,
    private readonly options: TerminalRuntimeOptions,
    private readonly stats: SimStats,
    private readonly log: TerminalLogger,
    private readonly clock: () => number = Date.now,
  ) {
    this.outbox = new HeartbeatOutbox(options.outboxCapacity, options.maxInflight);
    this.rng = new Prng(deriveSeed(profile.stateSeed, 'runtime'));
  }

  get sn(): string {
    return this.profile.sn;
  }

  get isConnected(): boolean {
    return this.liveEpoch !== null;
  }

  /** Heartbeats published on the live connection and not acknowledged yet. */
  get inflight(): number {
    return this.liveEpoch === null ? 0 : this.outbox.inflight(this.liveEpoch);
  }

  /** Heartbeats held locally (in flight or waiting). */
  get unacked(): number {
    return this.outbox.size;
  }

  /** Random offset for the first heartbeat, uniform within one interval. */
  firstHeartbeatDelayMs(): number {
    return Math.floor(this.rng.next() * this.options.intervalMs);
  }

  /** Boots the terminal: connects now and sends the first heartbeat after `firstHeartbeatDelayMs`. */
  start(firstHeartbeatDelayMs: number): void {
    if (this.state) throw new Error(`${this.sn} already started`);
    this.state = initialTerminalState(this.profile, this.clock());
    this.stats.boots++;
    this.publishing = true;
    this.nextTickAt = this.clock() + firstHeartbeatDelayMs;
    this.scheduleTick();
    this.openConnection();
  }

  /** Stops producing heartbeats and reconnecting; the current connection stays up. */
  stopPublishing(): void {
    this.publishing = false;
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.tickTimer = null;
    this.reconnectTimer = null;
  }

  /**
   * Clean shutdown: retained offline presence, then DISCONNECT (so no Last Will). Falls back to closing the
   * socket if the broker does not let the client finish within `timeoutMs`.
   */
  async disconnect(timeoutMs = 2_000): Promise<void> {
    this.stopPublishing();
    const client = this.client;
    const wasUp = this.liveEpoch !== null;
    this.client = null;
    this.epoch++;
    this.liveEpoch = null;
    if (!client) return;
    if (wasUp) this.stats.connectionDown();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (wasUp) {
        client.publish(topics.presence(this.sn), this.presencePayload('offline'), { qos: 1, retain: true }, () => {
          client.end(false, {}, finish);
        });
      } else {
        client.end(true, {}, finish);
      }
    });
  }

  // ----------------------------------------------------------------------------------------------------
  // connection lifecycle

  /** Powered and on the network: worth (re)connecting. */
  private canConnect(): boolean {
    return !this.stopped && this.state !== null && this.state.power === 'on' && hasNetwork(this.profile, this.state);
  }

  private openConnection(): void {
    if (!this.canConnect()) return;
    const epoch = ++this.epoch;
    this.stats.connectAttempts++;
    const opts: IClientOptions = {
      protocolVersion: 4,
      clientId: this.sn,
      username: this.credentials.username,
      password: this.credentials.secret,
      clean: true,
      keepalive: this.options.keepaliveS,
      reconnectPeriod: 0,
      connectTimeout: this.options.connectTimeoutMs,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: topics.presence(this.sn), payload: this.presencePayload('offline', false), qos: 1, retain: true },
    };
    const client = connect(this.options.brokerUrl, opts);
    this.client = client;
    client.on('connect', () => this.onConnect(epoch, client));
    client.on('message', (topic, payload) => this.onMessage(epoch, client, topic, payload));
    client.on('error', (err) => this.onError(epoch, err));
    client.on('close', () => this.onClose(epoch, client));
  }

  private onConnect(epoch: number, client: MqttClient): void {
    if (epoch !== this.epoch) return;
    this.liveEpoch = epoch;
    this.connectedAt = this.clock();
    this.stats.connectionUp(this.sn);
    if (this.hadConnection) this.stats.reconnects++;
    this.hadConnection = true;
    client.publish(topics.presence(this.sn), this.presencePayload('online'), { qos: 1, retain: true }, (err) => {
      if (err && this.liveEpoch === epoch) this.stats.error('presence');
    });
    client.subscribe(topics.commands(this.sn), { qos: 1 }, (err, granted) => {
      if (this.liveEpoch !== epoch) return;
      if (err || !granted || granted.some((g) => g.qos === 128)) {
        this.stats.error('subscribe_denied');
        this.log.limited('subscribe', `${this.sn}: subscription to its commands topic was refused`);
      }
    });
    this.pump();
  }

  private onError(epoch: number, err: Error & { code?: string | number }): void {
    if (epoch !== this.epoch) return;
    const kind = classifyError(err);
    this.stats.error(kind);
    this.log.limited(kind, `${this.sn}: ${err.message}`);
  }

  private onClose(epoch: number, client: MqttClient): void {
    if (epoch !== this.epoch) return;
    const wasUp = this.liveEpoch === epoch;
    this.liveEpoch = null;
    this.client = null;
    if (wasUp) {
      this.stats.connectionDown();
      if (this.clock() - this.connectedAt >= this.options.stableAfterMs) this.attempt = 0;
    }
    // release the client's timers and callbacks; its unacknowledged heartbeats stay in our outbox
    client.end(true);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || !this.canConnect()) return;
    const delay = backoffDelayMs(this.attempt, this.rng.next(), this.options.backoff);
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.openConnection();
    }, delay);
  }

  /** Power loss or reboot: the socket just dies (no DISCONNECT, so the broker publishes the Last Will). */
  private dropConnection(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    const wasUp = this.liveEpoch !== null;
    this.epoch++;
    this.liveEpoch = null;
    this.client = null;
    if (wasUp) this.stats.connectionDown();
    client?.end(true);
  }

  // ----------------------------------------------------------------------------------------------------
  // heartbeats

  private scheduleTick(): void {
    if (!this.publishing) return;
    const delay = Math.max(0, this.nextTickAt - this.clock());
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      this.nextTickAt += this.options.intervalMs;
      // after a long event-loop stall, skip missed slots instead of bursting
      if (this.nextTickAt < this.clock()) this.nextTickAt = this.clock() + this.options.intervalMs;
      this.tick();
      this.scheduleTick();
    }, delay);
  }

  private tick(): void {
    if (!this.state) return;
    const before = this.state;
    const { state, heartbeat } = nextHeartbeat(this.profile, before, this.clock(), {
      includeLocation: this.options.includeLocation,
    });
    this.state = state;
    if (state.boots !== before.boots || state.power !== before.power) this.onPowerChange(before, state);
    else if (state.power === 'on') this.onNetworkChange(before, state);
    if (!heartbeat) return;
    const { dropped } = this.outbox.push(Buffer.from(JSON.stringify(heartbeat)), heartbeat.ts, heartbeat.seq, this.liveEpoch);
    if (dropped) this.stats.dropped++;
    this.pump();
  }

  private onPowerChange(before: TerminalState, after: TerminalState): void {
    const lostPower = before.power === 'on' && (after.power === 'off' || after.boots !== before.boots);
    if (lostPower) {
      // RAM is gone: buffered heartbeats are lost with it
      this.stats.lostOnPowerOff += this.outbox.clear();
      this.stats.powerOffs++;
      this.dropConnection();
    }
    if (after.boots !== before.boots) this.stats.boots += after.boots - before.boots;
    if (after.power === 'on' && (before.power === 'off' || after.boots !== before.boots)) {
      this.attempt = 0;
      this.openConnection();
    }
  }

  /** A `drop` scenario: the network goes away (socket dies, heartbeats are held), then comes back. */
  private onNetworkChange(before: TerminalState, after: TerminalState): void {
    const had = hasNetwork(this.profile, before);
    const has = hasNetwork(this.profile, after);
    if (had && !has) {
      this.stats.networkDrops++;
      this.dropConnection();
    } else if (!had && has) {
      this.attempt = 0;
      this.openConnection();
    }
  }

  private pump(): void {
    const epoch = this.liveEpoch;
    const client = this.client;
    if (!this.publishing || epoch === null || !client) return;
    for (let entry = this.outbox.nextToSend(epoch); entry; entry = this.outbox.nextToSend(epoch)) {
      const retransmit = entry.attempts > 0;
      this.outbox.markSent(entry, epoch);
      this.stats.heartbeatSent(retransmit);
      const id = entry.id;
      const sentAt = performance.now();
      client.publish(topics.heartbeat(this.sn), entry.payload, { qos: this.options.qos }, (err) => {
        if (this.liveEpoch !== epoch) return; // connection gone: the entry is resent on the next one
        if (err) {
          this.stats.error('publish');
          this.outbox.failed(id);
          return;
        }
        if (this.outbox.ack(id) && this.options.qos === 1) this.stats.heartbeatAcked(performance.now() - sentAt);
        this.pump();
      });
    }
  }

  // ----------------------------------------------------------------------------------------------------
  // presence and commands

  private presencePayload(state: PresenceMessage['state'], withTs = true): string {
    const message: PresenceMessage = { v: 1, state };
    if (withTs) message.ts = formatLocalTimestamp(this.clock(), this.profile.utcOffsetMin);
    return JSON.stringify(message);
  }

  private onMessage(epoch: number, client: MqttClient, topic: string, payload: Buffer): void {
    if (epoch !== this.liveEpoch || topic !== topics.commands(this.sn)) return;
    const parsed = parsePayload(payload, commandSchema, { maxBytes: COMMAND_MAX_BYTES, supportedVersions: [1] });
    let id: string | null = null;
    let error = COMMAND_REJECT_REASON;
    if (parsed.ok) {
      this.stats.commandsReceived++;
      id = parsed.value.id;
      this.log.info(`${this.sn}: command ${parsed.value.type} (${id}) received, rejecting: ${COMMAND_REJECT_REASON}`);
    } else {
      this.stats.commandsInvalid++;
      error = `invalid command (${parsed.reason}): ${parsed.detail}`.slice(0, 500);
      this.log.limited('invalid_command', `${this.sn}: ${error}`);
      try {
        const raw: unknown = JSON.parse(payload.toString('utf8'));
        const rawId = raw !== null && typeof raw === 'object' ? (raw as { id?: unknown }).id : undefined;
        if (typeof rawId === 'string' && rawId.length > 0 && rawId.length <= 64) id = rawId;
      } catch {
        // no id to acknowledge
      }
    }
    if (id === null) return;
    const ack: CommandAck = {
      v: 1,
      id,
      status: 'rejected',
      ts: formatLocalTimestamp(this.clock(), this.profile.utcOffsetMin),
      error,
    };
    client.publish(topics.commandAck(this.sn), JSON.stringify(ack), { qos: 1 }, (err) => {
      if (err && this.liveEpoch === epoch) this.stats.error('command_ack');
    });
  }
}
