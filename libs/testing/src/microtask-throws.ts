/**
 * Runs `fn` while queueMicrotask runs each task at once and keeps what it throws: code under test
 * rethrows a callback's error on a microtask of its own, which would otherwise fail the test run.
 */
export async function collectMicrotaskThrows(fn: () => unknown): Promise<unknown[]> {
  const thrown: unknown[] = [];
  const real = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (task: () => void) => {
    try {
      task();
    } catch (err) {
      thrown.push(err);
    }
  };
  try {
    await fn();
  } finally {
    globalThis.queueMicrotask = real;
  }
  return thrown;
}
