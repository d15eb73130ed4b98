import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { BrokerService, MqttAuthService } from '#broker';

/**
 * Reaches the MQTT broker when it runs in this process (single-process composition), so disabling a
 * terminal drops its live session at once and credential changes skip the auth cache. The API
 * never requires the broker: with the API running alone (or in the CLI) these are no-ops and
 * changes reach the gateways within AUTH_CACHE_TTL_MS.
 *
 * The broker's providers live in BrokerModule, which the API module does not import; @Optional()
 * injection covers a composition that exports them to the API, otherwise they are looked up once
 * across the whole application (ModuleRef, non-strict).
 */
@Injectable()
export class LiveSessions {
  private readonly logger = new Logger('LiveSessions');
  private resolved = false;

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Optional() @Inject(BrokerService) private broker?: BrokerService,
    @Optional() @Inject(MqttAuthService) private auth?: MqttAuthService,
  ) {}

  private resolve(): void {
    if (this.resolved) return;
    this.resolved = true;
    this.broker ??= this.lookup(BrokerService);
    this.auth ??= this.lookup(MqttAuthService);
  }

  private lookup<T>(token: new (...args: never[]) => T): T | undefined {
    try {
      return this.moduleRef.get(token, { strict: false });
    } catch {
      return undefined;
    }
  }

  /** Forget cached MQTT credentials of a terminal (rotation, enable, disable). */
  invalidate(sn: string): void {
    this.resolve();
    this.auth?.invalidate(sn);
  }

  /** Closes the terminal's live MQTT connection in this process; true when one was closed. */
  disconnect(sn: string): boolean {
    this.resolve();
    this.auth?.invalidate(sn);
    const closed = this.broker?.disconnectTerminal(sn) ?? false;
    if (closed) this.logger.log(`closed the MQTT session of disabled terminal ${sn}`);
    return closed;
  }
}
