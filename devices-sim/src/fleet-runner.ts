/**
 * Starts a fleet of simulated terminals at a bounded connection rate and shuts it down cleanly.
 */
import type { TerminalCredentials } from '#contracts';
import type { TerminalProfile } from './fleet-generator.js';
import type { OtaScenarioKind } from './ota-model.js';
import type { SimStats } from './sim-stats.js';
import { SimulatedTerminal, type TerminalLogger, type TerminalRuntimeOptions } from './terminal-client.js';

export interface FleetRunnerOptions {
  readonly runtime: TerminalRuntimeOptions;
  /** New connections per second during start-up. */
  readonly rampPerS: number;
}

export interface ShutdownReport {
  /** Heartbeats still unacknowledged after the grace period. */
  readonly unackedAtExit: number;
  readonly waitedMs: number;
}

const RAMP_TICK_MS = 50;

export class FleetRunner {
  readonly terminals: SimulatedTerminal[];
  private rampTimer: NodeJS.Timeout | null = null;
  private started = 0;

  constructor(
    fleet: ReadonlyArray<{ profile: TerminalProfile; credentials: TerminalCredentials; otaScenario?: OtaScenarioKind | null }>,
    private readonly options: FleetRunnerOptions,
    private readonly stats: SimStats,
    log: TerminalLogger,
  ) {
    this.terminals = fleet.map((t) => new SimulatedTerminal(t.profile, t.credentials, options.runtime, stats, log, Date.now, t.otaScenario ?? null));
    stats.terminals = this.terminals.length;
  }

  /** Starts terminals at `rampPerS`; resolves when all have been started. */
  start(): Promise<void> {
    return new Promise((resolve) => {
      const perTick = (this.options.rampPerS * RAMP_TICK_MS) / 1000;
      let budget = 1; // the first terminal starts immediately
      const step = (): void => {
        budget += perTick;
        while (budget >= 1 && this.started < this.terminals.length) {
          const terminal = this.terminals[this.started++];
          terminal.start(terminal.firstHeartbeatDelayMs());
          budget -= 1;
        }
        if (this.started >= this.terminals.length) {
          if (this.rampTimer) clearInterval(this.rampTimer);
          this.rampTimer = null;
          resolve();
        }
      };
      budget -= perTick;
      step();
      if (this.started < this.terminals.length) this.rampTimer = setInterval(step, RAMP_TICK_MS);
    });
  }

  /**
   * Stops publishing, waits up to `graceMs` for in-flight heartbeats to be acknowledged, then disconnects
   * every terminal cleanly.
   */
  async shutdown(graceMs = 5_000): Promise<ShutdownReport> {
    if (this.rampTimer) clearInterval(this.rampTimer);
    this.rampTimer = null;
    const active = this.terminals.slice(0, this.started);
    for (const t of active) t.stopPublishing();
    const began = Date.now();
    while (Date.now() - began < graceMs && active.some((t) => t.inflight > 0)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const waitedMs = Date.now() - began;
    const unackedAtExit = active.reduce((n, t) => n + t.unacked, 0);
    await Promise.all(active.map((t) => t.disconnect()));
    return { unackedAtExit, waitedMs };
  }

  get connected(): number {
    return this.stats.connected;
  }
}
