import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, ConfigError, type AppConfig } from '#config';
import { SN_PATTERN } from '#contracts';

/** Path of the artifact download route (served by the API composition, outside /v1: no API key). */
export const ARTIFACT_DOWNLOAD_PATH = '/ota/v1/artifacts';
const COMMAND_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface DownloadGrant {
  releaseId: string;
  sn: string;
  commandId: string;
  /** Unix seconds. */
  exp: number;
}

export interface IssuedDownloadUrl {
  url: string;
  expiresAt: Date;
}

/** The HMAC key: OTA_URL_SECRET, else derived from the credential pepper (HKDF-SHA256, its own label). */
export function downloadUrlKey(config: AppConfig): Buffer {
  if (config.ota.urlSecret) return Buffer.from(config.ota.urlSecret, 'utf8');
  if (!config.auth.pepper) throw new ConfigError('Invalid configuration:\n  OTA_URL_SECRET: required when CREDENTIAL_PEPPER is not set');
  return Buffer.from(hkdfSync('sha256', config.auth.pepper, '', 'pos-fleet ota download url v1', 32));
}

function mac(key: Buffer, g: DownloadGrant): Buffer {
  // One field per line: no value can contain a newline (all are checked), so no two grants share a text.
  return createHmac('sha256', key).update(`ota-download v1\n${g.releaseId}\n${g.sn}\n${g.commandId}\n${g.exp}`).digest();
}

/**
 * Short-lived download URLs, one per terminal and command: HMAC-SHA256 over the release, the
 * terminal's SN, the command id and the expiry. Stateless, so every API replica with the same key
 * accepts them.
 */
@Injectable()
export class DownloadUrlService {
  private readonly key: Buffer;
  private readonly baseUrl: string;
  private readonly ttlS: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.key = downloadUrlKey(config);
    this.baseUrl = config.ota.publicBaseUrl;
    this.ttlS = config.ota.downloadUrlTtlS;
  }

  /** The URL a terminal downloads `releaseId` from while executing `commandId` (the command ledger calls this). */
  issueDownloadUrl(input: { releaseId: string; sn: string; commandId: string; now: Date; ttlS?: number }): IssuedDownloadUrl {
    if (!UUID.test(input.releaseId)) throw new Error('releaseId must be a lowercase uuid');
    if (!SN_PATTERN.test(input.sn)) throw new Error('sn is not a valid SN');
    if (!COMMAND_ID.test(input.commandId)) throw new Error('commandId must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    const exp = Math.floor(input.now.getTime() / 1000) + (input.ttlS ?? this.ttlS);
    const grant: DownloadGrant = { releaseId: input.releaseId, sn: input.sn, commandId: input.commandId, exp };
    const query = new URLSearchParams({ sn: grant.sn, cmd: grant.commandId, exp: String(exp), sig: mac(this.key, grant).toString('base64url') });
    return { url: `${this.baseUrl}${ARTIFACT_DOWNLOAD_PATH}/${grant.releaseId}?${query.toString()}`, expiresAt: new Date(exp * 1000) };
  }

  /**
   * The command's download URL signed afresh: same origin and path (a URL issued under another base
   * keeps it), the given terminal and command, a new expiry and signature. The ledger calls it on
   * every (re)send of an ota.install, so a terminal that deferred or was offline for longer than the
   * URL lives still gets one that works. Null when `url` is not an artifact URL of this release (an
   * external URL given by an operator is left as it is).
   */
  reissueDownloadUrl(url: string, input: { releaseId: string; sn: string; commandId: string; now: Date }): string | null {
    let given: URL;
    try {
      given = new URL(url);
    } catch {
      return null;
    }
    if (!given.pathname.endsWith(`${ARTIFACT_DOWNLOAD_PATH}/${input.releaseId}`) || !given.searchParams.has('sig')) return null;
    const fresh = new URL(this.issueDownloadUrl(input).url);
    return `${given.origin}${given.pathname}${fresh.search}`;
  }

  /**
   * The grant when the URL's parameters carry a valid, unexpired signature for this release;
   * null otherwise (tampered, expired, malformed, another release's signature).
   */
  verify(releaseId: string, query: Record<string, unknown>, now: Date): DownloadGrant | null {
    const { sn, cmd, exp, sig } = query;
    if (typeof sn !== 'string' || typeof cmd !== 'string' || typeof exp !== 'string' || typeof sig !== 'string') return null;
    if (!UUID.test(releaseId) || !SN_PATTERN.test(sn) || !COMMAND_ID.test(cmd) || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return null;
    const grant: DownloadGrant = { releaseId, sn, commandId: cmd, exp: Number(exp) };
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== 32 || !timingSafeEqual(given, mac(this.key, grant))) return null;
    if (grant.exp * 1000 <= now.getTime()) return null;
    return grant;
  }
}
