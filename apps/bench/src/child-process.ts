/**
 * The bench's child processes (database holder, gateway, load generator): started with an IPC
 * channel, watched (an unexpected exit aborts the run), and stopped in order with a grace period.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isMessage } from './protocol.js';
import { abortError, log, runAbort } from './run-lifecycle.js';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const benchDir = fileURLToPath(new URL('./', import.meta.url));

export interface Managed {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set before we stop it on purpose, so its exit does not abort the run. */
  stopping: boolean;
}

/**
 * Extra node flags for a child, e.g. BENCH_GATEWAY_EXEC_ARGV="--cpu-prof --cpu-prof-dir=/tmp/prof"
 * (BENCH_LOADER_EXEC_ARGV for the load generator) to see where the time goes.
 */
export function execArgvFrom(variable: string): string[] {
  return (process.env[variable] ?? '').split(' ').filter((a) => a !== '');
}

/** Forks `script` (a sibling of this file in dist) from the repository root. */
export function launch(name: string, script: string, opts: { env?: NodeJS.ProcessEnv; args?: string[]; logFd?: number; execArgv?: string[] }): Managed {
  const out = opts.logFd ?? 'inherit';
  const child = fork(join(benchDir, script), opts.args ?? [], {
    cwd: repoRoot,
    env: opts.env ?? process.env,
    // Own process group: a terminal's Ctrl-C reaches only this orchestrator, which stops the
    // children in order (loader, gateway, database). An IPC disconnect stops them otherwise.
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    execArgv: opts.execArgv ?? [],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const managed: Managed = {
    name,
    child,
    pid: child.pid,
    stopping: false,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  void managed.exited.then(({ code, signal }) => {
    if (!managed.stopping && !runAbort.signal.aborted) {
      runAbort.abort(new Error(`${name} exited unexpectedly (code ${code ?? '-'}, signal ${signal ?? '-'})`));
    }
  });
  return managed;
}

function isRunning(m: Managed): boolean {
  return m.child.exitCode === null && m.child.signalCode === null;
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stopManaged(m: Managed, graceMs: number): Promise<void> {
  m.stopping = true;
  if (!isRunning(m)) return;
  m.child.kill('SIGTERM');
  const exited = await Promise.race([m.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!exited && isRunning(m)) {
    log(`${m.name} did not exit within ${graceMs} ms, killing it`);
    m.child.kill('SIGKILL');
    await m.exited;
  }
}

/** The first IPC message from the child that `accept`s; rejects on timeout or when the run is aborted. */
export function waitMessage<T extends { type: string }>(m: Managed, accept: (msg: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (raw: unknown) => {
      if (!isMessage<T>(raw) || !accept(raw)) return;
      done();
      resolve(raw);
    };
    const onAbort = () => {
      done();
      reject(abortError());
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      m.child.off('message', onMessage);
      runAbort.signal.removeEventListener('abort', onAbort);
    };
    m.child.on('message', onMessage);
    runAbort.signal.addEventListener('abort', onAbort, { once: true });
  });
}
