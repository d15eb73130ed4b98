import type { Socket } from 'node:net';
import { RateLimiterMemory } from 'rate-limiter-flexible';

/** Why the gateway closed a connection on its own. */
export const RefusalReason = {
  PacketTooLarge: 'packet_too_large',
  PendingLimit: 'pending_limit',
  PendingPerAddressLimit: 'pending_per_address_limit',
  RateLimited: 'rate_limited',
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

export interface ConnectionGuardOptions {
  maxPending: number;
  maxPendingPerAddress: number;
  connectRatePerAddressPerMinute: number;
  /** Called with the number of pending connections whenever it changes. */
  onPendingChange?: (pending: number) => void;
}

/**
 * Admission before login: a connection is "pending" from TCP accept until its CONNECT is
 * authenticated. Pending connections are capped in total and per source address, and new
 * connections are rate-limited per address, so nobody without a secret can hold many sockets.
 */
export class ConnectionGuard {
  private readonly limiter: RateLimiterMemory;
  private readonly pendingByAddress = new Map<string, number>();
  private readonly pending = new Map<Socket, string>();

  constructor(private readonly options: ConnectionGuardOptions) {
    this.limiter = new RateLimiterMemory({ points: options.connectRatePerAddressPerMinute, duration: 60 });
  }

  /** Resolves with null when the socket may proceed (it is then pending), or the refusal reason. */
  async admit(socket: Socket): Promise<RefusalReason | null> {
    const address = socket.remoteAddress ?? 'unknown';
    try {
      await this.limiter.consume(address);
    } catch {
      return RefusalReason.RateLimited;
    }
    if (socket.destroyed) return null;
    if (this.pending.size >= this.options.maxPending) return RefusalReason.PendingLimit;
    const forAddress = this.pendingByAddress.get(address) ?? 0;
    if (forAddress >= this.options.maxPendingPerAddress) return RefusalReason.PendingPerAddressLimit;
    this.pending.set(socket, address);
    this.pendingByAddress.set(address, forAddress + 1);
    this.options.onPendingChange?.(this.pending.size);
    socket.once('close', () => this.settle(socket));
    return null;
  }

  /** The socket authenticated (or closed): it no longer counts as pending. */
  settle(socket: Socket): void {
    const address = this.pending.get(socket);
    if (address === undefined) return;
    this.pending.delete(socket);
    const left = (this.pendingByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.pendingByAddress.set(address, left);
    else this.pendingByAddress.delete(address);
    this.options.onPendingChange?.(this.pending.size);
  }

  isPending(socket: Socket): boolean {
    return this.pending.has(socket);
  }
}

/** The part of mqtt-packet's parser (aedes' `client._parser`) the size limit hooks into. */
interface LengthParser {
  packet: { cmd?: string; length: number };
  _parseLength(): boolean;
}

function isLengthParser(value: unknown): value is LengthParser {
  return typeof value === 'object' && value !== null && typeof (value as { _parseLength?: unknown })._parseLength === 'function';
}

/**
 * Caps the size of every packet a client sends, checked when its fixed header's remaining length
 * has been read, i.e. before the body is buffered. aedes and mqtt-packet have no such option: the
 * parser would otherwise buffer whatever length the client declares (up to 256 MiB). `onTooLarge`
 * must close the connection. Returns false if the parser is not the expected shape (after an
 * upgrade), so the caller can fail loudly instead of running unprotected.
 */
export function limitPacketSize(parser: unknown, maxBytes: () => number, onTooLarge: (declared: number, cmd: string | undefined) => void): boolean {
  if (!isLengthParser(parser)) return false;
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    const complete = parseLength();
    if (complete && parser.packet.length > maxBytes()) {
      onTooLarge(parser.packet.length, parser.packet.cmd);
      // Stop the parser here: the body is never read.
      return false;
    }
    return complete;
  };
  return true;
}
