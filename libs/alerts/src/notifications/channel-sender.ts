import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { APP_CONFIG, type AppConfig } from '#config';
import { postJson, SendError, type HttpPostResult } from './http-post.js';
import type { ChannelTarget, NotificationMessage, SendResult } from './notification.types.js';
import { dingTalkSignedUrl, truncateUtf8, webhookSignature } from './signing.js';

/**
 * WeCom group robot: markdown content is at most 4096 bytes of UTF-8
 * (https://developer.work.weixin.qq.com/document/path/91770, "markdown类型 ... content 最长不超过4096个字节").
 */
export const WECOM_MARKDOWN_MAX_BYTES = 4096;
/** DingTalk custom robot messages are capped around 20000 bytes; markdown text is kept well below. */
export const DINGTALK_MARKDOWN_MAX_BYTES = 18_000;

/** The longest one send may take: HTTP sends stop at the timeout, SMTP at three (connect, greeting, data). */
export function sendDeadlineMs(timeoutMs: number): number {
  return 3 * timeoutMs + 1_000;
}

/** Sends one message to one channel; never throws (the outcome is recorded by the caller). */
@Injectable()
export class ChannelSender implements OnApplicationShutdown {
  private mailer: Transporter | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async send(channel: ChannelTarget, message: NotificationMessage): Promise<SendResult> {
    try {
      switch (channel.type) {
        case 'webhook':
          return await this.webhook(channel, message);
        case 'wecom':
          return await this.wecom(channel, message);
        case 'dingtalk':
          return await this.dingtalk(channel, message);
        case 'email':
          return await this.email(channel, message);
      }
    } catch (err) {
      if (err instanceof SendError) return { ok: false, statusCode: null, latencyMs: err.latencyMs, error: err.message, retryable: err.retryable };
      return { ok: false, statusCode: null, latencyMs: 0, error: err instanceof Error ? err.message : String(err), retryable: true };
    }
  }

  private post(url: string, body: string, headers: Record<string, string> = {}): Promise<HttpPostResult> {
    const n = this.config.notifications;
    return postJson(url, body, headers, { timeoutMs: n.httpTimeoutMs, maxResponseBytes: n.responseMaxBytes, allowPrivateTargets: n.allowPrivateTargets });
  }

  /** Our own webhook: JSON body, HMAC signature over timestamp + "." + body, idempotency key. */
  private async webhook(channel: ChannelTarget, message: NotificationMessage): Promise<SendResult> {
    if (!channel.url) return refused('webhook channel without url');
    const body = JSON.stringify({ ...message.json, sentAt: new Date().toISOString() });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'idempotency-key': message.idempotencyKey, 'x-fleet-timestamp': timestamp };
    if (channel.secret) headers['x-fleet-signature'] = webhookSignature(channel.secret, timestamp, body);
    return httpOutcome(await this.post(channel.url, body, headers), false);
  }

  /** WeCom group robot (企业微信群机器人): {"msgtype":"markdown","markdown":{"content":...}}. */
  private async wecom(channel: ChannelTarget, message: NotificationMessage): Promise<SendResult> {
    if (!channel.url) return refused('wecom channel without url');
    const body = JSON.stringify({ msgtype: 'markdown', markdown: { content: truncateUtf8(message.markdown, WECOM_MARKDOWN_MAX_BYTES) } });
    return httpOutcome(await this.post(channel.url, body), true);
  }

  /**
   * DingTalk custom robot (钉钉自定义机器人): {"msgtype":"markdown","markdown":{"title","text"}}
   * (https://open.dingtalk.com/document/robots/custom-robot-access, message types:
   * https://open.dingtalk.com/document/development/robot-message-type), signed URL when a secret is set.
   */
  private async dingtalk(channel: ChannelTarget, message: NotificationMessage): Promise<SendResult> {
    if (!channel.url) return refused('dingtalk channel without url');
    const url = channel.secret ? dingTalkSignedUrl(channel.url, channel.secret) : channel.url;
    const body = JSON.stringify({
      msgtype: 'markdown',
      markdown: { title: truncateUtf8(message.title, 200), text: truncateUtf8(message.markdown, DINGTALK_MARKDOWN_MAX_BYTES) },
    });
    return httpOutcome(await this.post(url, body), true);
  }

  private async email(channel: ChannelTarget, message: NotificationMessage): Promise<SendResult> {
    const smtp = this.config.notifications.smtp;
    if (!smtp.url) return refused('SMTP_URL is not configured');
    if (channel.emailTo.length === 0) return refused('email channel without recipients');
    const timeout = this.config.notifications.httpTimeoutMs;
    // Local-relay or TLS per the URL; a hung relay is cut off like a hung webhook.
    this.mailer ??= createTransport({ url: smtp.url, connectionTimeout: timeout, greetingTimeout: timeout, socketTimeout: timeout });
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    // A relay that trickles its answers is cut off like a hung webhook (nodemailer's timeouts are per phase).
    const limit = sendDeadlineMs(timeout);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SendError(`no complete SMTP answer within ${limit} ms`, true, limit)), limit);
    });
    try {
      const sending = this.mailer.sendMail({
        from: smtp.from,
        to: [...channel.emailTo],
        subject: message.title.slice(0, 250),
        text: message.text,
        headers: { 'X-Fleet-Idempotency-Key': message.idempotencyKey },
        messageId: `<${message.idempotencyKey}@pos-fleet>`,
        attachments: message.attachment
          ? [{ filename: message.attachment.filename, content: message.attachment.content, contentType: message.attachment.contentType }]
          : [],
      });
      // The loser of the race must not become an unhandled rejection.
      sending.catch(() => undefined);
      const info = (await Promise.race([sending, deadline])) as { response?: string };
      const code = Number(/^(\d{3})/.exec(info.response ?? '')?.[1] ?? 250);
      return { ok: true, statusCode: code, latencyMs: Math.round(performance.now() - started), error: null, retryable: false };
    } catch (err) {
      if (err instanceof SendError) throw err;
      const e = err as { responseCode?: number; message?: string };
      // SMTP 5xx is permanent (bad recipient, refused); 4xx and connection errors are worth a retry.
      const code = typeof e.responseCode === 'number' ? e.responseCode : null;
      return {
        ok: false,
        statusCode: code,
        latencyMs: Math.round(performance.now() - started),
        error: e.message ?? 'smtp error',
        retryable: code === null || code < 500,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  onApplicationShutdown(): void {
    this.mailer?.close();
  }
}

function refused(error: string): SendResult {
  return { ok: false, statusCode: null, latencyMs: 0, error, retryable: false };
}

/**
 * 2xx is delivered; 408, 425, 429 and 5xx are retried; other statuses (including 3xx: redirects are
 * not followed) fail for good. Robots answer 200 with {"errcode":N}: errcode 0 is success, their
 * rate limits (WeCom 45009, DingTalk 130101) are retried.
 */
export function httpOutcome(res: HttpPostResult, robot: boolean): SendResult {
  const base = { statusCode: res.statusCode, latencyMs: res.latencyMs };
  const snippet = res.body.slice(0, 300);
  if (res.statusCode >= 200 && res.statusCode < 300) {
    if (robot) {
      let answer: { errcode?: unknown; errmsg?: unknown };
      try {
        answer = JSON.parse(res.body) as { errcode?: unknown; errmsg?: unknown };
      } catch {
        return { ...base, ok: false, error: `robot answered without JSON: ${snippet}`, retryable: true };
      }
      const errcode = typeof answer.errcode === 'number' ? answer.errcode : 0;
      if (errcode !== 0) {
        const errmsg = typeof answer.errmsg === 'string' ? answer.errmsg : '';
        return { ...base, ok: false, error: `robot errcode ${errcode}: ${errmsg}`, retryable: errcode === 45009 || errcode === 130101 || errcode === -1 };
      }
    }
    return { ...base, ok: true, error: null, retryable: false };
  }
  const retryable = res.statusCode === 408 || res.statusCode === 425 || res.statusCode === 429 || res.statusCode >= 500;
  return { ...base, ok: false, error: `HTTP ${res.statusCode}${snippet ? `: ${snippet}` : ''}`, retryable };
}
