import { createServer, Socket, type Server } from 'node:net';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Aedes, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import { commandAckSchema, parsePayload, presenceSchema, PresenceReason, TerminalTopicKind, topics, type CommandAck } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { AckTimeoutError, IngestService, type PresenceOwner } from '#ingest';
import { HealthService, MetricsService } from '#observability';
import type { LiveSessionsPort } from '#terminals';
import { ConnectionGuard, limitPacketSize, RefusalReason } from './connection-guard.js';
import { GatewaySessionService } from './gateway-session.service.js';
import { MqttAuthService } from './mqtt-auth.service.js';
import { AuthFailure, type MqttIdentity } from './mqtt-identity.js';
import { canSubscribe, decidePublish } from './topic-acl.js';

/**
 * Publishes we acknowledge but must not deliver (rejected input) are re-addressed here: MQTT
 * wildcards never match topics starting with `$`, and no ACL lets anyone subscribe to it.
 */
const DISCARD_TOPIC = '$discard';
const SMALL_MESSAGE_MAX_BYTES = 2048;

interface ClientInternals {
  /** aedes sets it when a DISCONNECT packet arrived (no Last Will is sent then). */
  _disconnected?: boolean;
}

/**
 * The command ledger's hooks into the broker (registered by the commands feature of the same
 * process): when a terminal can receive commands, and its acks. Without one, acks are only validated.
 */
export interface CommandRouting {
  /** The terminal is connected and subscribed to its command topic (or resumed a session that is). */
  onTerminalReady(sn: string): void;
  /** A valid ack from `sn` (the topic's terminal); the PUBACK waits for the returned promise. */
  onAck(sn: string, ack: CommandAck, payload: Buffer): Promise<void>;
}

function discard(packet: PublishPacket): void {
  packet.topic = DISCARD_TOPIC;
  packet.retain = false;
}

function clientSocket(client: Client): Socket | null {
  return client.conn instanceof Socket ? client.conn : null;
}

function remoteAddress(client: Client): string | null {
  const conn = client.conn as Partial<Socket>;
  return typeof conn.remoteAddress === 'string' ? conn.remoteAddress : null;
}

/**
 * The MQTT broker (aedes) with terminal authentication, topic ACL, presence and heartbeat ingest
 * inside its hooks. A QoS 1 heartbeat's PUBACK is held until its batch commits: aedes writes
 * PUBACK as soon as authorizePublish calls back, and stops reading that client's socket meanwhile.
 */
/** A CONNACK refusal: 3 = server unavailable (retry later), 5 = not authorized. */
function connackError(message: string, returnCode: 3 | 5): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  // 3 and 5 are aedes' AuthErrorCode values, a const enum that cannot be imported at runtime.
  err.returnCode = returnCode;
  return err;
}

@Injectable()
export class BrokerService implements LiveSessionsPort, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Broker');
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly identities = new WeakMap<Client, MqttIdentity>();
  /** Each terminal connection's number in this gateway session: its presence events name it. */
  private readonly epochs = new WeakMap<Client, number>();
  /** Current connection per terminal, to tell a takeover from a real disconnect. */
  private readonly sessions = new Map<string, Client>();
  /**
   * Authenticated connections not yet registered, per terminal. aedes closes the older connection
   * of a duplicate client id (emitting its clientDisconnect) before it emits 'client' for the newer
   * one, so at that moment only this map tells a takeover from a lost connection.
   */
  private readonly successors = new Map<string, Client>();
  private readonly guard: ConnectionGuard;
  /** Connections the backend closed itself (disconnect(), in-flight cap), recorded as closed_by_server. */
  private readonly closedByServer = new WeakSet<Client>();
  /** Publishes per connection whose PUBACK waits for a commit (heartbeats, command acks). */
  private readonly inflight = new WeakMap<Client, number>();
  private shuttingDown = false;
  private boundPort = 0;
  private commandRouting: CommandRouting | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(MqttAuthService) private readonly auth: MqttAuthService,
    @Inject(IngestService) private readonly ingest: IngestService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(HealthService) health: HealthService,
    @Inject(GatewaySessionService) private readonly gatewaySession: GatewaySessionService,
  ) {
    this.guard = new ConnectionGuard({
      maxPending: config.mqtt.maxPendingConnections,
      maxPendingPerAddress: config.mqtt.maxPendingPerAddress,
      connectRatePerAddressPerMinute: config.mqtt.connectRatePerAddressPerMinute,
      onPendingChange: (pending) => metrics.mqttPending.set(pending),
    });
    health.register('mqtt', () => Promise.resolve({ name: 'mqtt', ok: this.server?.listening === true, detail: `port ${this.boundPort}` }));
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.gatewaySession.start({
      live: () => this.liveConnections(),
      reclaim: (owned) => {
        for (const [sn, epoch] of owned) this.ingest.recordPresence(sn, true, PresenceReason.Connected, null, this.owner(epoch));
      },
    });
    const aedes = await Aedes.createBroker({
      id: this.gatewaySession.gatewayId,
      heartbeatInterval: 60_000,
      connectTimeout: this.config.mqtt.connectTimeoutMs,
      preConnect: (client, packet, done) => done(null, this.onPreConnect(client, packet)),
      authenticate: (client, username, password, done) => this.onAuthenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.onPublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.onSubscribe(client, sub, done),
    });
    aedes.on('client', (client) => this.onConnected(client));
    aedes.on('clientDisconnect', (client) => this.onDisconnected(client));
    aedes.on('subscribe', (subscriptions, client) => {
      const identity = client ? this.identities.get(client) : undefined;
      if (identity?.kind !== 'terminal' || this.sessions.get(identity.sn) !== client) return;
      if (subscriptions.some((s) => s.topic === topics.commands(identity.sn))) this.commandRouting?.onTerminalReady(identity.sn);
    });
    aedes.on('clientError', (client, err) => this.logger.debug(`client ${client.id} error: ${err.message}`));
    this.aedes = aedes;
    const server = createServer((socket) => this.onSocket(aedes, socket));
    server.maxConnections = this.config.mqtt.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.mqtt.port, this.config.mqtt.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : this.config.mqtt.port;
    this.server = server;
    this.logger.log(`MQTT listening on ${this.config.mqtt.host}:${this.boundPort}`);
  }

  /** Admission (rate and pending caps), then the packet size limit, then aedes. */
  private onSocket(aedes: Aedes, socket: Socket): void {
    socket.on('error', () => undefined);
    this.guard.admit(socket).then(
      (refusal) => {
        if (socket.destroyed) return;
        if (refusal) return this.refuse(socket, refusal);
        const client = aedes.handle(socket);
        const parser = (client as unknown as { _parser?: unknown })._parser;
        const limited = limitPacketSize(
          parser,
          () => (this.guard.isPending(socket) ? this.config.mqtt.maxPacketBytesBeforeAuth : this.config.mqtt.maxPacketBytes),
          (declared, cmd) => {
            this.logger.debug(`${socket.remoteAddress ?? '?'} declared a ${cmd ?? 'packet'} of ${declared} bytes: closing`);
            this.refuse(socket, RefusalReason.PacketTooLarge);
          },
        );
        if (!limited) {
          // Never serve a client whose packets cannot be bounded (an aedes/mqtt-packet upgrade changed the parser).
          this.logger.error('cannot limit MQTT packet size: the mqtt-packet parser changed; refusing connections');
          socket.destroy();
        }
      },
      () => socket.destroy(),
    );
  }

  private refuse(socket: Socket, reason: RefusalReason): void {
    this.metrics.mqttRefused.inc({ reason });
    socket.destroy();
  }

  /**
   * Keep-alive 0 (never ping) or a huge one would let a half-open connection look online forever:
   * both are replaced by the maximum, so aedes closes a connection silent for 1.5 x that.
   */
  private onPreConnect(_client: Client, packet: ConnectPacket): boolean {
    const max = this.config.mqtt.maxKeepaliveS;
    if (!packet.keepalive || packet.keepalive > max) packet.keepalive = max;
    return true;
  }

  private onAuthenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    this.auth.authenticate(client.id, username, password).then(
      (result) => {
        if (result.ok) {
          this.identities.set(client, result.identity);
          const socket = clientSocket(client);
          if (socket) this.guard.settle(socket);
          if (result.identity.kind === 'terminal') {
            const sn = result.identity.sn;
            this.successors.set(sn, client);
            // A connection that closes before it is registered must not leave an entry behind.
            socket?.once('close', () => {
              if (this.successors.get(sn) === client) this.successors.delete(sn);
            });
          }
          this.metrics.mqttConnects.inc({ kind: result.identity.kind });
          return done(null, true);
        }
        this.metrics.authFailures.inc({ reason: result.failure });
        done(connackError(`not authorized: ${result.failure}`, 5), false);
      },
      (err: unknown) => {
        // Database unreachable: "server unavailable" tells the terminal to retry later.
        this.metrics.authFailures.inc({ reason: AuthFailure.Unavailable });
        this.logger.warn(`auth lookup failed: ${err instanceof Error ? err.message : String(err)}`);
        done(connackError('server unavailable', 3), false);
      },
    );
  }

  private onSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void): void {
    const identity = this.identities.get(client);
    if (identity && canSubscribe(identity, sub.topic)) return done(null, sub);
    this.metrics.aclDenied.inc({ action: 'subscribe' });
    // null: SUBACK 0x80 for this filter, the connection stays up.
    done(null, null);
  }

  private onPublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    // Publishes by the broker itself ($SYS, or on behalf of no client).
    if (!client) return done(null);
    const identity = this.identities.get(client);
    if (!identity) return done(new Error('not authenticated'));
    const decision = decidePublish(identity, packet.topic);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (!decision.allow) {
      if (decision.reason === 'acl_denied') this.metrics.aclDenied.inc({ action: 'publish' });
      this.ingest.reject(client.id, packet.topic, decision.reason, `${identity.kind} ${client.id} may not publish to ${packet.topic}`, payload);
      discard(packet);
      return done(null);
    }
    // Only presence is retained: a retained heartbeat (up to the packet cap) per terminal would sit in
    // the broker's memory for every terminal of the fleet.
    if (decision.kind !== TerminalTopicKind.Presence) packet.retain = false;
    switch (decision.kind) {
      case TerminalTopicKind.Heartbeat:
        if (!this.beginInflight(client)) return;
        // A callback, not a promise: this runs for every heartbeat and is held until its commit.
        this.ingest.acceptHeartbeat(decision.sn, packet.topic, payload, (err, outcome) => {
          this.endInflight(client);
          if (err || !outcome) {
            if (err instanceof AckTimeoutError) this.metrics.ackTimeouts.inc();
            // No PUBACK: close the connection; the terminal reconnects and retransmits later.
            this.logger.warn(`heartbeat from ${client.id} not accepted: ${err ? err.message : 'no outcome'}`);
            client.close();
            return;
          }
          if (!outcome.stored) discard(packet);
          done(null);
        });
        return;
      case TerminalTopicKind.Presence:
      case TerminalTopicKind.CommandAck: {
        const schema = decision.kind === TerminalTopicKind.Presence ? presenceSchema : commandAckSchema;
        const parsed = parsePayload(payload, schema, { maxBytes: SMALL_MESSAGE_MAX_BYTES, supportedVersions: [1] });
        if (!parsed.ok) {
          this.ingest.reject(client.id, packet.topic, parsed.reason, parsed.detail, payload);
          discard(packet);
        } else if (decision.kind === TerminalTopicKind.CommandAck && this.commandRouting) {
          if (!this.beginInflight(client)) return;
          // Acknowledged means recorded, as for heartbeats.
          this.commandRouting.onAck(decision.sn, parsed.value as CommandAck, payload).then(
            () => {
              this.endInflight(client);
              done(null);
            },
            (err: unknown) => {
              this.endInflight(client);
              this.logger.warn(`command ack from ${client.id} not accepted: ${err instanceof Error ? err.message : String(err)}`);
              client.close();
            },
          );
          return;
        }
        return done(null);
      }
      default:
        // Commands from service accounts go straight to the terminal.
        return done(null);
    }
  }

  /**
   * Counts a publish whose PUBACK waits; false (and the connection closed, no PUBACK) past the cap.
   * aedes hands over every packet of one socket read at once and reads no more until all are done, so
   * a client that pipelines publishes without waiting for PUBACKs could make one read (up to ~64 KiB of
   * small publishes) sit in memory as hundreds of pending heartbeats, on every connection. The
   * unacknowledged publishes are sent again after the reconnect (protocol §4).
   */
  private beginInflight(client: Client): boolean {
    const n = this.inflight.get(client) ?? 0;
    if (n < this.config.mqtt.maxInflightPerConnection) {
      this.inflight.set(client, n + 1);
      return true;
    }
    if (!this.closedByServer.has(client)) {
      this.closedByServer.add(client);
      this.metrics.mqttInflightExceeded.inc();
      this.logger.warn(`${client.id}: more than ${this.config.mqtt.maxInflightPerConnection} publishes in flight, closing the connection`);
      client.close();
    }
    return false;
  }

  private endInflight(client: Client): void {
    const n = this.inflight.get(client) ?? 0;
    if (n > 1) this.inflight.set(client, n - 1);
    else this.inflight.delete(client);
  }

  private onConnected(client: Client): void {
    const identity = this.identities.get(client);
    this.metrics.mqttConnections.inc();
    if (identity?.kind !== 'terminal') return;
    if (this.successors.get(identity.sn) === client) this.successors.delete(identity.sn);
    this.sessions.set(identity.sn, client);
    const owner = this.gatewaySession.nextConnection();
    this.epochs.set(client, owner.epoch);
    this.ingest.recordPresence(identity.sn, true, PresenceReason.Connected, remoteAddress(client), owner);
    // A resumed session (clean=false) keeps its subscriptions and may not subscribe again.
    if (!client.clean) this.commandRouting?.onTerminalReady(identity.sn);
  }

  private onDisconnected(client: Client): void {
    const identity = this.identities.get(client);
    this.metrics.mqttConnections.dec();
    if (identity?.kind !== 'terminal') return;
    const current = this.sessions.get(identity.sn);
    const successor = this.successors.get(identity.sn);
    const takenOver = (current !== undefined && current !== client) || (successor !== undefined && successor !== client && !successor.closed);
    if (current === client) this.sessions.delete(identity.sn);
    const owner = this.owner(this.epochs.get(client) ?? 0);
    if (takenOver && !this.shuttingDown) {
      // A newer connection with the same client id replaced this one: the terminal stays online.
      this.ingest.recordPresence(identity.sn, true, PresenceReason.TakenOver, remoteAddress(client), owner);
      return;
    }
    const reason = this.shuttingDown
      ? PresenceReason.ServerShutdown
      : this.closedByServer.has(client)
        ? PresenceReason.ClosedByServer
        : (client as unknown as ClientInternals)._disconnected
          ? PresenceReason.CleanDisconnect
          : PresenceReason.ConnectionLost;
    // Written only if this connection still owns the terminal (it may have moved to another gateway).
    this.ingest.recordPresence(identity.sn, false, reason, remoteAddress(client), owner);
  }

  private owner(epoch: number): PresenceOwner {
    return { session: this.gatewaySession.sessionId, epoch };
  }

  private *liveConnections(): Generator<[string, number]> {
    for (const [sn, client] of this.sessions) yield [sn, this.epochs.get(client) ?? 0];
  }

  setCommandRouting(routing: CommandRouting | null): void {
    this.commandRouting = routing;
  }

  /** Whether the terminal has a live connection to this broker. */
  isConnected(sn: string): boolean {
    return this.sessions.has(sn);
  }

  /** Terminals connected to this broker. */
  connectedTerminals(): IterableIterator<string> {
    return this.sessions.keys();
  }

  /** Publishes a command QoS 1 on the terminal's command topic from the broker itself (no ACL, no client). */
  publishCommand(sn: string, payload: Buffer): Promise<void> {
    const aedes = this.aedes;
    if (!aedes || this.shuttingDown) return Promise.reject(new Error('broker not running'));
    return new Promise((resolve, reject) => {
      aedes.publish({ cmd: 'publish', topic: topics.commands(sn), payload, qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Forget a terminal's cached credentials, so its next CONNECT sees a rotation or status change. */
  invalidate(sn: string): void {
    this.auth.invalidate(sn);
  }

  /** Closes a terminal's live connection, e.g. after it was disabled. */
  disconnect(sn: string): boolean {
    this.auth.invalidate(sn);
    const client = this.sessions.get(sn);
    if (!client) return false;
    this.closedByServer.add(client);
    client.close();
    this.logger.log(`closed the MQTT session of terminal ${sn}`);
    return true;
  }

  /** Stop accepting, close every connection, then flush what ingest holds. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const server = this.server;
    const aedes = this.aedes;
    // Stop accepting first; the listener's close completes once aedes has closed every client.
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await serverClosed;
    await this.ingest.close();
    // Every disconnect is written: release the lease now rather than let it expire.
    await this.gatewaySession.stop(true);
    this.logger.log('broker stopped, ingest flushed');
  }
}
