/**
 * Lifecycle of one bench run: a progress log, an abort signal that every wait honours, and a LIFO
 * list of cleanup steps that runs once, also on Ctrl-C / SIGTERM / error.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

/** Aborted when a child dies unexpectedly or the user interrupts: every wait gives up. */
export const runAbort = new AbortController();

export function abortError(): Error {
  return runAbort.signal.reason instanceof Error ? runAbort.signal.reason : new Error('aborted');
}

export async function pause(ms: number): Promise<void> {
  try {
    await sleep(ms, undefined, { signal: runAbort.signal });
  } catch {
    throw abortError();
  }
}

const cleanupSteps: { name: string; run: () => Promise<void> }[] = [];
let cleaning: Promise<void> | null = null;

export function onCleanup(name: string, run: () => Promise<void>): void {
  cleanupSteps.push({ name, run });
}

export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (let step = cleanupSteps.pop(); step; step = cleanupSteps.pop()) {
      try {
        await step.run();
      } catch (err) {
        log(`cleanup of ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // A bench may run several phases (e.g. the --baseline run after the main one), each cleaned up.
    cleaning = null;
  })();
  return cleaning;
}

let interrupted = false;

/** On SIGINT / SIGTERM / SIGHUP: abort the run, clean up, exit 130. */
export function handleInterrupts(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      log(`${signal}: stopping and cleaning up ...`);
      runAbort.abort(new Error(`interrupted by ${signal}`));
      void cleanup().finally(() => process.exit(130));
    });
  }
}

/** Reports a failed run (`diagnose` adds detail before the children are stopped), cleans up and exits. */
export async function exitAfterFailure(err: unknown, diagnose: () => void): Promise<never> {
  if (!interrupted) {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    diagnose();
    await cleanup();
    process.exit(1);
  }
  // Interrupted: the signal handler cleans up and exits.
  await cleanup();
  process.exit(130);
}
