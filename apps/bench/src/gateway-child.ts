/**
 * Runs a composition root (apps/fleet/src/main.ts by default, unchanged) as a child of the bench
 * orchestrator. BENCH_COMPOSITION=gateway runs apps/gateway instead (broker + ingest only, as
 * deployed at scale); BENCH_GATEWAY_MAIN runs another build's main.js (an A/B against an older
 * commit in the same session). The only addition is a guard: when the orchestrator goes away
 * without cleaning up (killed hard), the IPC channel closes and the gateway shuts itself down.
 */
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
const entry = process.env.BENCH_GATEWAY_MAIN ?? (process.env.BENCH_COMPOSITION === 'gateway' ? '../../gateway/src/main.js' : '../../fleet/src/main.js');
await import(entry);
