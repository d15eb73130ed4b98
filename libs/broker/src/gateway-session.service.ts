import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { PresenceReason } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { PresenceRepository, type PresenceOwner } from '#ingest';

/**
 * This gateway process's presence session: an identity (GATEWAY_ID, or one generated per start) and
 * a session id per run, held by a lease in the database. Every presence event names the session and
 * the connection's epoch (a counter of this run), so a gateway only marks offline what it still
 * owns. On each renewal the gateway also looks for peers whose lease expired (crashed, hung, cut off)
 * and marks their terminals offline; if its own lease was found expired, it re-claims its live
 * connections.
 */
@Injectable()
export class GatewaySessionService {
  private readonly logger = new Logger('GatewaySession');
  readonly gatewayId: string;
  readonly sessionId: string;
  private epoch = 0;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private liveConnections: () => Iterable<[string, number]> = () => [];
  private reclaim: (owned: Iterable<[string, number]>) => void = () => undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PresenceRepository) private readonly presence: PresenceRepository,
  ) {
    this.gatewayId = config.gateway.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    // A run of a configured GATEWAY_ID is told from its previous ones by the start time.
    this.sessionId = `${this.gatewayId}@${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
  }

  /** The owner stamp of a new connection. */
  nextConnection(): PresenceOwner {
    return { session: this.sessionId, epoch: ++this.epoch };
  }

  /**
   * Opens the lease, then (PRESENCE_RESET_ON_START) marks offline what sessions that are gone left
   * online. `live` lists this process's connections (sn, epoch); `reclaim` re-records them online.
   */
  async start(hooks: { live: () => Iterable<[string, number]>; reclaim: (owned: Iterable<[string, number]>) => void }): Promise<void> {
    this.liveConnections = hooks.live;
    this.reclaim = hooks.reclaim;
    const { leaseTtlMs, leaseRenewMs } = this.config.gateway;
    await this.presence.openSession(this.sessionId, this.gatewayId, leaseTtlMs);
    if (this.config.mqtt.presenceResetOnStart) {
      const reset = await this.presence.expireSessions({
        time: new Date(),
        reason: PresenceReason.ServerRestart,
        gatewayId: this.gatewayId,
        currentSession: this.sessionId,
        atStart: true,
      });
      if (reset > 0) this.logger.log(`marked ${reset} terminals offline that stopped gateway sessions left online`);
    }
    this.timer = setInterval(() => void this.tick(), leaseRenewMs);
    this.timer.unref();
    this.logger.log(`gateway ${this.gatewayId}, session ${this.sessionId}, lease ${leaseTtlMs} ms`);
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const ttl = this.config.gateway.leaseTtlMs;
    try {
      if (!(await this.presence.renewSession(this.sessionId, ttl))) {
        // Presumed dead by a peer (e.g. cut off from the database longer than the TTL): come back.
        await this.presence.openSession(this.sessionId, this.gatewayId, ttl);
        const owned = [...this.liveConnections()];
        this.logger.warn(`lease of session ${this.sessionId} had expired; re-claiming ${owned.length} connections`);
        this.reclaim(owned);
      }
      const expired = await this.presence.expireSessions({
        time: new Date(),
        reason: PresenceReason.GatewayLost,
        gatewayId: this.gatewayId,
        currentSession: this.sessionId,
        atStart: false,
      });
      if (expired > 0) this.logger.warn(`marked ${expired} terminals offline: their gateway's lease expired`);
    } catch (err) {
      this.logger.warn(`gateway lease renewal failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.ticking = false;
    }
  }

  /** Stops renewing; `release`: delete the lease (after this run's disconnects were written). */
  async stop(release: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!release) return;
    try {
      await this.presence.closeSession(this.sessionId);
    } catch (err) {
      // Not fatal: the lease expires and a peer (or the next start) reaps what is left.
      this.logger.warn(`could not release the gateway lease: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
