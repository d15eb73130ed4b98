/**
 * Progress output on stderr: a live status line redrawn about once a second on a TTY, a plain line every
 * 10 s otherwise, nothing with --quiet. Log lines are interleaved without tearing the status line.
 */
import type { SimStats } from './sim-stats.js';

export interface StatusStream {
  readonly isTTY?: boolean;
  write(chunk: string): boolean;
}

function fmtMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 10_000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

/** One status line; exported for tests. */
export function formatStatusLine(stats: SimStats, qos: 0 | 1): string {
  const w = stats.windowSnapshot();
  const acked = qos === 1 ? `acked ${stats.acked}` : 'acked n/a (qos 0)';
  const rate = qos === 1 ? `${w.ackRate.toFixed(1)} ack/s` : `${w.sendRate.toFixed(1)} msg/s`;
  return (
    `connected ${stats.connected}/${stats.terminals}  sent ${stats.sent}  ${acked}  errors ${stats.errorsTotal}` +
    `  reconnects ${stats.reconnects}  ${rate}  p50 ${fmtMs(w.p50Ms)} p99 ${fmtMs(w.p99Ms)}`
  );
}

export class StatusReporter {
  private timer: NodeJS.Timeout | null = null;
  private lineShown = false;
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly stream: StatusStream,
    private readonly stats: SimStats,
    private readonly qos: 0 | 1,
    private readonly quiet: boolean,
  ) {}

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  start(): void {
    if (this.quiet || this.timer) return;
    const everyMs = this.tty ? 1_000 : 10_000;
    this.timer = setInterval(() => this.render(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.lineShown) this.stream.write('\n');
    this.lineShown = false;
  }

  render(): void {
    if (this.quiet) return;
    const line = formatStatusLine(this.stats, this.qos);
    if (this.tty) {
      this.stream.write(`\r${line}\x1b[K`);
      this.lineShown = true;
    } else {
      this.stream.write(`${new Date().toISOString()} ${line}\n`);
    }
  }

  /** Informational message (hidden with --quiet). */
  info(message: string): void {
    if (!this.quiet) this.emit(message);
  }

  /** Warnings are shown even with --quiet. */
  warn(message: string): void {
    this.emit(`warning: ${message}`);
  }

  /**
   * Logs at most `limit` messages of one kind (e.g. per error class), then a single notice that further
   * ones are only counted, so 10 000 terminals failing the same way do not flood the terminal.
   */
  limited(kind: string, message: string, limit = 5): void {
    const n = (this.suppressed.get(kind) ?? 0) + 1;
    this.suppressed.set(kind, n);
    if (n <= limit) this.info(message);
    if (n === limit + 1) this.info(`(further "${kind}" messages are counted in the status line only)`);
  }

  private emit(message: string): void {
    if (this.tty && this.lineShown) {
      this.stream.write(`\r\x1b[K${message}\n`);
      this.render();
    } else {
      this.stream.write(`${message}\n`);
    }
  }
}
