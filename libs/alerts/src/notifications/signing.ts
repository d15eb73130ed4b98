import { createHmac } from 'node:crypto';

/**
 * Webhook signature: `X-Fleet-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with
 * `X-Fleet-Timestamp` (Unix seconds). Receivers recompute it over the raw body and reject old
 * timestamps (replay); docs/alerts.md shows Node and Python versions.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * DingTalk custom robot "加签" (sign) scheme: string_to_sign = timestamp_ms + "\n" + secret,
 * HMAC-SHA256 keyed with the secret, Base64, then URL-encoded, appended as
 * `&timestamp=<ms>&sign=<sign>`; DingTalk refuses timestamps more than an hour off.
 * https://open.dingtalk.com/document/robots/customize-robot-security-settings
 */
export function dingTalkSign(secret: string, timestampMs: string): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

export function dingTalkSignedUrl(url: string, secret: string, nowMs = Date.now()): string {
  const ts = String(nowMs);
  const u = new URL(url);
  u.searchParams.set('timestamp', ts);
  // URLSearchParams encodes '+', '/' and '=' of the Base64 value.
  u.searchParams.set('sign', dingTalkSign(secret, ts));
  return u.toString();
}

/** The longest prefix of `text` that fits in maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number, marker = '\n…'): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const room = maxBytes - Buffer.byteLength(marker);
  let bytes = 0;
  let out = '';
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > room) break;
    bytes += n;
    out += ch;
  }
  return out + marker;
}
