/**
 * Runs the gateway composition (apps/gateway/src/main.ts, unchanged) as a child of the connections
 * bench. When the orchestrator goes away without cleaning up, the IPC channel closes and the gateway
 * shuts itself down instead of lingering.
 */
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
await import('../../gateway/src/main.js');
