import { Inject, Injectable } from '@nestjs/common';
import { isValidSn } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { MetricsService } from '#observability';
import { CredentialHasher, TerminalRepository, TerminalStatus } from '#terminals';
import { AuthRecordLoader } from './auth-record-loader.js';
import { AuthFailure, SERVICE_USERNAME_PREFIX, type MqttIdentity } from './mqtt-identity.js';

export type AuthResult = { ok: true; identity: MqttIdentity } | { ok: false; failure: AuthFailure };

/** CONNECT authentication for terminals (client id = username = SN) and backend service accounts. */
@Injectable()
export class MqttAuthService {
  private readonly loader: AuthRecordLoader;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(CredentialHasher) private readonly hasher: CredentialHasher,
    @Inject(TerminalRepository) private readonly terminals: TerminalRepository,
    @Inject(MetricsService) metrics?: MetricsService,
  ) {
    this.loader = new AuthRecordLoader((sns) => terminals.findAuthRecords(sns), {
      ttlMs: config.auth.cacheTtlMs,
      maxEntries: config.auth.cacheMaxEntries,
      maxBatch: 1000,
      // Two of the pool's connections at most, whatever the storm: ingest keeps the others.
      maxInFlight: 2,
      onFetch: (n) => metrics?.authLookupBatch.observe(n),
    });
  }

  async authenticate(clientId: string, username: string | undefined, password: Buffer | undefined): Promise<AuthResult> {
    if (!username || !password || password.length === 0) return { ok: false, failure: AuthFailure.MissingCredentials };
    if (username.startsWith(SERVICE_USERNAME_PREFIX)) {
      const name = username.slice(SERVICE_USERNAME_PREFIX.length);
      const record = await this.terminals.findServiceAccount(name);
      if (!record) return { ok: false, failure: AuthFailure.UnknownTerminal };
      if (record.status !== TerminalStatus.Active) return { ok: false, failure: AuthFailure.Disabled };
      if (!this.hasher.verify(password, record.hash)) return { ok: false, failure: AuthFailure.BadSecret };
      return { ok: true, identity: { kind: 'service', name } };
    }
    if (clientId !== username) return { ok: false, failure: AuthFailure.ClientIdMismatch };
    if (!isValidSn(username)) return { ok: false, failure: AuthFailure.UnknownTerminal };
    let record = await this.loader.load(username);
    if (record?.status === TerminalStatus.Active && !this.hasher.verify(password, record.hash)) {
      // The cached hash may predate a rotation: one fresh look before refusing.
      this.loader.invalidate(username);
      record = await this.loader.load(username);
    }
    if (!record) return { ok: false, failure: AuthFailure.UnknownTerminal };
    if (record.status !== TerminalStatus.Active) return { ok: false, failure: AuthFailure.Disabled };
    if (!this.hasher.verify(password, record.hash)) return { ok: false, failure: AuthFailure.BadSecret };
    return { ok: true, identity: { kind: 'terminal', sn: username } };
  }

  /** Forget cached credentials (after rotation or disable in this process). */
  invalidate(sn: string): void {
    this.loader.invalidate(sn);
  }
}
