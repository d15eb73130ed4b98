/**
 * Runs the single-process composition (apps/fleet/src/main.ts, unchanged) as a child of the bench
 * orchestrator. The only addition is a guard: when the orchestrator goes away without cleaning up
 * (killed hard), the IPC channel closes and the gateway shuts itself down instead of lingering.
 */
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
await import('../../fleet/src/main.js');
