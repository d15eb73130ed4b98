/**
 * One simulated terminal on the wire: an mqtt.js client per connection, heartbeats from the terminal model,
 * a small outbox that retransmits unacknowledged heartbeats after reconnecting, retained presence with an
 * offline Last Will, the commands topic, and reconnects driven by full-jitter exponential backoff.
 */
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import {
  commandSchema,
  CommandType,
  otaInstallParamsSchema,
  parsePayload,
  rebootParamsSchema,
  setHeartbeatIntervalParamsSchema,
  topics,
  type Command,
  type CommandAck,
  type CommandAckStatus,
  type DeferReason,
  type OtaInstallParams,
  type PresenceMessage,
  type TerminalCredentials,
} from '#contracts';
import { downloadArtifact, signatureValid } from './artifact-download.js';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { TerminalProfile } from './fleet-generator.js';
import { HeartbeatOutbox } from './heartbeat-outbox.js';
import { Prng, deriveSeed } from './prng.js';
import type { ErrorKind, SimStats } from './sim-stats.js';
import {
  badReleaseFault,
  dropOffset,
  guardView,
  installOutcome,
  isKnownTimeZone,
  progressSteps,
  runningVersion,
  unmetGuard,
  type GuardStage,
  type OtaScenarioKind,
} from './ota-model.js';
import { advanceTerminal, formatLocalTimestamp, hasNetwork, initialTerminalState, nextHeartbeat, rebootedState, type TerminalState } from './terminal-model.js';

/** How simulated terminals carry out commands (docs/protocol.md §6). */
export interface CommandRuntimeOptions {
  /** Release public key for the Ed25519 check; null = the signature is not checked (said in the `verified` ack). */
  readonly releasePublicKey: KeyObject | null;
  /** Install outside the maintenance window (demos). */
  readonly ignoreWindow: boolean;
  /** Cut the first download at this percent and resume it with Range; null = no drop. */
  readonly dropAtPercent: number | null;
  readonly installDelayMs: number;
  /** Power-off time of a reboot (commanded or after an install). */
  readonly rebootDelayMs: number;
  /** How often a deferred command re-checks its guards. */
  readonly deferRetryMs: number;
  readonly downloadRetryMs: number;
  readonly downloadMaxAttempts: number;
}

export const DEFAULT_COMMAND_RUNTIME: CommandRuntimeOptions = {
  releasePublicKey: null,
  ignoreWindow: false,
  dropAtPercent: null,
  installDelayMs: 20_000,
  rebootDelayMs: 15_000,
  deferRetryMs: 60_000,
  downloadRetryMs: 5_000,
  downloadMaxAttempts: 6,
};

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
  readonly commands: CommandRuntimeOptions;
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
  commands: DEFAULT_COMMAND_RUNTIME,
};

export interface TerminalLogger {
  info(message: string): void;
  /** Rate-limited by kind. */
  limited(kind: string, message: string): void;
}

/** Largest command payload the simulator parses. */
const COMMAND_MAX_BYTES = 65_536;
/** Command ids remembered for deduplication (the newest). */
const COMMAND_MEMORY = 100;
/** Acks held while the connection is down (the oldest are dropped beyond this). */
const PENDING_ACKS_MAX = 50;

interface CommandRecord {
  readonly type: string;
  last: CommandAck;
}

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
  /** Heartbeat interval set by a command; kept across reboots. */
  private intervalOverrideMs: number | null = null;
  /** Powered off for a commanded or post-install reboot. */
  private rebooting = false;
  private otaRunning = false;
  /** Epoch whose commands subscription was granted. */
  private subscribedEpoch: number | null = null;
  private readonly commands = new Map<string, CommandRecord>();
  private pendingAcks: CommandAck[] = [];
  /** Download URL of a running install, refreshed by resends of the command (a URL lives about an hour). */
  private readonly otaUrls = new Map<string, string>();
  /** Aborted when the terminal stops: ends downloads and waits. */
  private readonly lifetime = new AbortController();

  constructor(
    readonly profile: TerminalProfile,
    private readonly credentials: TerminalCredentials,
    private readonly options: TerminalRuntimeOptions,
    private readonly stats: SimStats,
    private readonly log: TerminalLogger,
    private readonly clock: () => number = Date.now,
    /** OTA scenario of this terminal (null: behaves); may change while it runs (a test puts a low-battery terminal on its charger). */
    public otaScenario: OtaScenarioKind | null = null,
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

  /** Connected and subscribed to its commands topic. */
  get receivesCommands(): boolean {
    return this.liveEpoch !== null && this.subscribedEpoch === this.liveEpoch;
  }

  /** Heartbeats published on the live connection and not acknowledged yet. */
  get inflight(): number {
    return this.liveEpoch === null ? 0 : this.outbox.inflight(this.liveEpoch);
  }

  /** Heartbeats held locally (in flight or waiting). */
  get unacked(): number {
    return this.outbox.size;
  }

  /** Interval between heartbeats now (a set_heartbeat_interval command overrides the configured one). */
  get heartbeatIntervalMs(): number {
    return this.intervalOverrideMs ?? this.options.intervalMs;
  }

  /** Firmware and app versions running now. */
  get firmware(): TerminalState['firmware'] | null {
    return this.state?.firmware ?? null;
  }

  /** Last status reported for a command id (null: unknown). */
  commandStatus(id: string): CommandAckStatus | null {
    return this.commands.get(id)?.last.status ?? null;
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
    this.lifetime.abort();
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
    return !this.stopped && !this.rebooting && this.state !== null && this.state.power === 'on' && hasNetwork(this.profile, this.state);
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
      } else this.subscribedEpoch = epoch;
    });
    this.flushAcks(epoch, client);
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
      this.nextTickAt += this.heartbeatIntervalMs;
      // after a long event-loop stall, skip missed slots instead of bursting
      if (this.nextTickAt < this.clock()) this.nextTickAt = this.clock() + this.heartbeatIntervalMs;
      this.tick();
      this.scheduleTick();
    }, delay);
  }

  private tick(): void {
    if (!this.state || this.rebooting) return;
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
    if (!parsed.ok) {
      this.stats.commandsInvalid++;
      const error = `invalid command (${parsed.reason}): ${parsed.detail}`.slice(0, 500);
      this.log.limited('invalid_command', `${this.sn}: ${error}`);
      let id: string | null = null;
      try {
        const raw: unknown = JSON.parse(payload.toString('utf8'));
        const rawId = raw !== null && typeof raw === 'object' ? (raw as { id?: unknown }).id : undefined;
        if (typeof rawId === 'string' && rawId.length > 0 && rawId.length <= 64) id = rawId;
      } catch {
        // no id to acknowledge
      }
      if (id !== null) void this.ack(id, 'invalid', 'rejected', { reason: 'invalid_command', error });
      return;
    }
    const command = parsed.value;
    this.stats.commandsReceived++;
    const known = this.commands.get(command.id);
    if (known) {
      // a resend: answer with where it stands; its fresh download URL replaces the old one
      if (known.type === CommandType.OtaInstall && this.otaUrls.has(command.id)) {
        const fresh = otaInstallParamsSchema.safeParse(command.params);
        if (fresh.success) this.otaUrls.set(command.id, fresh.data.url);
      }
      void this.ack(command.id, known.type, known.last.status, withoutEnvelope(known.last));
      return;
    }
    this.handleCommand(command);
  }

  private handleCommand(command: Command): void {
    const { id, type } = command;
    if (command.expiresAt !== undefined && Date.parse(command.expiresAt) <= this.clock()) {
      void this.ack(id, type, 'rejected', { reason: 'expired', error: `expired at ${command.expiresAt}` });
      return;
    }
    switch (type) {
      case CommandType.Reboot: {
        const params = rebootParamsSchema.safeParse(command.params);
        if (!params.success) return this.rejectParams(id, type, params.error.message);
        if (this.rebooting) return void this.ack(id, type, 'rejected', { reason: 'busy', error: 'already rebooting' });
        this.log.info(`${this.sn}: reboot (${id})`);
        void this.ack(id, type, 'accepted').then(async () => {
          await this.reboot();
          if (!this.stopped) void this.ack(id, type, 'succeeded');
        });
        return;
      }
      case CommandType.SetHeartbeatInterval: {
        const params = setHeartbeatIntervalParamsSchema.safeParse(command.params);
        if (!params.success) return this.rejectParams(id, type, params.error.message);
        void this.ack(id, type, 'accepted');
        this.setInterval(params.data.seconds * 1000);
        this.log.info(`${this.sn}: heartbeat interval ${params.data.seconds}s (${id})`);
        void this.ack(id, type, 'succeeded');
        return;
      }
      case CommandType.OtaInstall: {
        const params = otaInstallParamsSchema.safeParse(command.params);
        if (!params.success) return this.rejectParams(id, type, params.error.message);
        if (!isKnownTimeZone(params.data.guards.window.tz)) {
          return void this.ack(id, type, 'rejected', { reason: 'invalid_params', error: `unknown time zone ${params.data.guards.window.tz}` });
        }
        if (this.otaRunning) return void this.ack(id, type, 'rejected', { reason: 'busy', error: 'another install is in progress' });
        this.otaRunning = true;
        this.otaUrls.set(id, params.data.url);
        void this.ack(id, type, 'accepted');
        this.runOta(command, params.data)
          .catch((err: unknown) => {
            this.log.limited('ota', `${this.sn}: OTA ${id} crashed: ${err instanceof Error ? err.message : String(err)}`);
            if (!this.stopped) void this.ack(id, type, 'failed', { reason: 'install_failed', error: 'simulator error' });
          })
          .finally(() => {
            this.otaRunning = false;
            this.otaUrls.delete(id);
          });
        return;
      }
      default:
        this.log.info(`${this.sn}: command ${type} (${id}) rejected: unknown type`);
        void this.ack(id, type, 'rejected', { reason: 'unknown_type', error: `type ${type} not supported`.slice(0, 500) });
    }
  }

  private rejectParams(id: string, type: string, detail: string): void {
    void this.ack(id, type, 'rejected', { reason: 'invalid_params', error: detail.slice(0, 500) });
  }

  /** Reports a command state; sent now (resolves on PUBACK) or held until the next connection. */
  private ack(
    id: string,
    type: string,
    status: CommandAckStatus,
    extra: Partial<Pick<CommandAck, 'progress' | 'reason' | 'error' | 'version'>> = {},
  ): Promise<void> {
    const ack: CommandAck = { v: 1, id, status, ts: formatLocalTimestamp(this.clock(), this.profile.utcOffsetMin), ...extra };
    this.stats.commandAcks.set(status, (this.stats.commandAcks.get(status) ?? 0) + 1);
    const known = this.commands.get(id);
    if (known) known.last = ack;
    else {
      this.commands.set(id, { type, last: ack });
      if (this.commands.size > COMMAND_MEMORY) {
        const oldest = this.commands.keys().next().value;
        if (oldest !== undefined) this.commands.delete(oldest);
      }
    }
    const epoch = this.liveEpoch;
    const client = this.client;
    if (epoch === null || !client) {
      this.holdAck(ack);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      client.publish(topics.commandAck(this.sn), JSON.stringify(ack), { qos: 1 }, (err) => {
        if (err && this.liveEpoch === epoch) this.stats.error('command_ack');
        resolve();
      });
    });
  }

  private holdAck(ack: CommandAck): void {
    this.pendingAcks.push(ack);
    if (this.pendingAcks.length > PENDING_ACKS_MAX) this.pendingAcks.shift();
  }

  private flushAcks(epoch: number, client: MqttClient): void {
    const acks = this.pendingAcks;
    this.pendingAcks = [];
    for (const ack of acks) {
      client.publish(topics.commandAck(this.sn), JSON.stringify(ack), { qos: 1 }, (err) => {
        if (err && this.liveEpoch === epoch) this.stats.error('command_ack');
      });
    }
  }

  private setInterval(ms: number): void {
    const previous = this.heartbeatIntervalMs;
    this.intervalOverrideMs = ms;
    if (!this.tickTimer) return;
    // from the next heartbeat: the one after the last sent one, at the new pace
    clearTimeout(this.tickTimer);
    this.tickTimer = null;
    this.nextTickAt = Math.max(this.clock(), this.nextTickAt - previous + ms);
    this.scheduleTick();
  }

  /** Resolves after `ms`, or at once when the terminal stops. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.lifetime.signal.aborted) return resolve();
      const timer = setTimeout(resolve, ms);
      this.lifetime.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  /**
   * Power cycle: the socket dies (the broker publishes the Last Will), RAM is lost, and after the reboot
   * delay the terminal boots (uptime and seq restart), optionally onto new versions, and reconnects.
   */
  private async reboot(install?: Parameters<typeof rebootedState>[2]): Promise<void> {
    if (!this.state) return;
    this.rebooting = true;
    this.dropConnection();
    this.stats.lostOnPowerOff += this.outbox.clear();
    this.stats.powerOffs++;
    await this.wait(this.options.commands.rebootDelayMs);
    this.rebooting = false;
    if (this.stopped || !this.state) return;
    const now = this.clock();
    this.state = rebootedState(advanceTerminal(this.profile, this.state, now), now, install);
    this.stats.boots++;
    this.attempt = 0;
    this.openConnection();
  }

  /** The terminal's state now, for guard checks. */
  private currentState(): TerminalState | null {
    if (!this.state) return null;
    this.state = advanceTerminal(this.profile, this.state, this.clock());
    return this.state;
  }

  /**
   * Waits until the guards of `stage` hold, acking `deferred` (once per reason change). False when the
   * command expired meanwhile (the terminal must not start it) or the terminal stopped.
   */
  private async awaitGuards(command: Command, params: OtaInstallParams, stage: GuardStage): Promise<boolean> {
    let reported: DeferReason | null = null;
    for (;;) {
      if (this.stopped) return false;
      if (command.expiresAt !== undefined && Date.parse(command.expiresAt) <= this.clock()) {
        this.log.info(`${this.sn}: OTA ${command.id} expired while deferred (${reported ?? 'no reason'})`);
        return false;
      }
      const state = this.currentState();
      if (!state) return false;
      const reason = unmetGuard(stage, guardView(state, this.otaScenario), params, this.clock(), {
        ignoreWindow: this.options.commands.ignoreWindow,
      });
      if (reason === null) return true;
      if (reason !== reported) {
        reported = reason;
        void this.ack(command.id, command.type, 'deferred', { reason });
      }
      await this.wait(this.options.commands.deferRetryMs);
    }
  }

  private async runOta(command: Command, params: OtaInstallParams): Promise<void> {
    const { id, type } = command;
    const opts = this.options.commands;
    if (!(await this.awaitGuards(command, params, 'download'))) return;

    let reportedSteps = 0;
    void this.ack(id, type, 'downloading', { progress: 0 });
    const result = await downloadArtifact({
      // the newest URL received for this command, at every (re)connection of the download
      url: () => this.otaUrls.get(id) ?? params.url,
      size: params.size,
      dropAtBytes: dropOffset(params.size, opts.dropAtPercent),
      corrupt: this.otaScenario === 'ota-checksum-mismatch',
      maxAttempts: opts.downloadMaxAttempts,
      retryDelayMs: opts.downloadRetryMs,
      signal: this.lifetime.signal,
      onProgress: (bytes) => {
        for (const step of progressSteps(reportedSteps, bytes, params.size)) {
          if (step < 100) void this.ack(id, type, 'downloading', { progress: step });
        }
        reportedSteps = Math.max(reportedSteps, bytes);
      },
    });
    if (this.stopped) return;
    if (!result.ok) {
      this.log.info(`${this.sn}: OTA ${id} download failed: ${result.detail}`);
      return void this.ack(id, type, 'failed', { reason: 'download_failed', error: result.detail.slice(0, 500) });
    }
    if (result.resumedFrom.length > 0) this.log.info(`${this.sn}: OTA ${id} download resumed from byte ${result.resumedFrom.join(', ')}`);
    void this.ack(id, type, 'downloading', { progress: 100 });
    void this.ack(id, type, 'downloaded');

    if (result.digest.toString('hex') !== params.sha256) {
      return void this.ack(id, type, 'failed', { reason: 'checksum_mismatch', error: `sha256 ${result.digest.toString('hex')}` });
    }
    let verifiedNote: string | undefined;
    if (opts.releasePublicKey === null) {
      verifiedNote = 'sha256 ok; signature not checked: no release public key configured';
      this.log.limited('ota_no_key', `${this.sn}: ${verifiedNote}`);
    } else if (!signatureValid(result.digest, params.signature, opts.releasePublicKey)) {
      return void this.ack(id, type, 'failed', { reason: 'signature_invalid', error: 'Ed25519 signature does not verify with the release key' });
    }
    void this.ack(id, type, 'verified', verifiedNote === undefined ? {} : { error: verifiedNote });

    if (!(await this.awaitGuards(command, params, 'install'))) return;
    await this.ack(id, type, 'installing');
    await this.wait(opts.installDelayMs);
    if (this.stopped || !this.state) return;
    const before = this.state.firmware;
    const outcome = installOutcome(before, params, this.otaScenario, badReleaseFault(this.sn, String(this.profile.stateSeed)));
    this.log.info(`${this.sn}: OTA ${id} ${outcome.kind === 'installed' ? `installed ${params.version}` : 'install failed'}, rebooting`);
    await this.reboot(outcome.kind === 'installed' ? { firmware: outcome.firmware, fault: outcome.fault } : undefined);
    if (this.stopped || !this.state) return;
    const running = runningVersion(this.state.firmware, params.component);
    if (outcome.kind === 'installed') {
      void this.ack(id, type, 'succeeded', { version: running });
    } else {
      void this.ack(id, type, 'failed', { reason: 'install_failed', error: 'new image failed its boot check' });
      void this.ack(id, type, 'rolled_back', { reason: 'boot_check_failed', version: running });
    }
  }
}

function withoutEnvelope(ack: CommandAck): Partial<Pick<CommandAck, 'progress' | 'reason' | 'error' | 'version'>> {
  const { progress, reason, error, version } = ack;
  return {
    ...(progress !== undefined ? { progress } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(version !== undefined ? { version } : {}),
  };
}
