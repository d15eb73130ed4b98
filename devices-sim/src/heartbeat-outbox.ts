/**
 * Per-terminal store of heartbeats that have not been acknowledged yet, following the protocol's guidance:
 * keep at most a few, newest wins, retransmit on every new connection until PUBACK.
 */
export interface OutboxEntry {
  readonly id: number;
  readonly payload: Buffer;
  readonly ts: string;
  readonly seq: number;
  /** Publish attempts so far (1 = sent once; >1 = retransmitted after a reconnect). */
  attempts: number;
  /** Connection epoch of the last publish of this entry; null while not sent on any connection. */
  sentEpoch: number | null;
}

export class HeartbeatOutbox {
  private readonly entries: OutboxEntry[] = [];
  private nextId = 1;

  constructor(
    /** Largest number of heartbeats kept (in flight plus waiting). */
    readonly capacity: number,
    /** Most heartbeats awaiting PUBACK on one connection at a time. */
    readonly maxInflight: number,
  ) {
    if (!(capacity >= 1) || !(maxInflight >= 1)) throw new Error('outbox capacity and maxInflight must be >= 1');
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Adds a heartbeat. When full, the oldest entry that is not awaiting PUBACK on the live connection
   * (`liveEpoch`) is dropped and returned, so the in-flight window is never overrun.
   */
  push(payload: Buffer, ts: string, seq: number, liveEpoch: number | null = null): { entry: OutboxEntry; dropped: OutboxEntry | null } {
    const entry: OutboxEntry = { id: this.nextId++, payload, ts, seq, attempts: 0, sentEpoch: null };
    this.entries.push(entry);
    if (this.entries.length <= this.capacity) return { entry, dropped: null };
    let victim = this.entries.findIndex((e) => liveEpoch === null || e.sentEpoch !== liveEpoch);
    if (victim < 0) victim = 0;
    return { entry, dropped: this.entries.splice(victim, 1)[0] };
  }

  /** Entries currently awaiting PUBACK on connection `epoch`. */
  inflight(epoch: number): number {
    let n = 0;
    for (const e of this.entries) if (e.sentEpoch === epoch) n++;
    return n;
  }

  /** Oldest entry not yet sent on connection `epoch`, if the in-flight window allows another publish. */
  nextToSend(epoch: number): OutboxEntry | null {
    if (this.inflight(epoch) >= this.maxInflight) return null;
    return this.entries.find((e) => e.sentEpoch !== epoch) ?? null;
  }

  markSent(entry: OutboxEntry, epoch: number): void {
    entry.sentEpoch = epoch;
    entry.attempts += 1;
  }

  /** Removes an acknowledged entry; null when it was already dropped. */
  ack(id: number): OutboxEntry | null {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return null;
    return this.entries.splice(i, 1)[0];
  }

  /** The publish failed locally: send it again later on this or the next connection. */
  failed(id: number): void {
    const entry = this.entries.find((e) => e.id === id);
    if (entry) entry.sentEpoch = null;
  }

  /** Forgets everything (power loss); returns how many heartbeats were lost. */
  clear(): number {
    const n = this.entries.length;
    this.entries.length = 0;
    return n;
  }
}
