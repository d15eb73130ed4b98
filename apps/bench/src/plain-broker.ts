/**
 * Baseline for `npm run bench:ingest --db none`: a bare aedes broker with no authentication, ACL,
 * validation or database. QoS 1 PUBACKs go out as soon as aedes has the message, so the load
 * generator measures the ceiling of "mqtt.js clients + aedes on this machine" in the same session.
 * Exposes /health/ready and /metrics (bench_broker_publishes_total) like the gateway.
 */
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Aedes } from 'aedes';

const mqttPort = Number(process.env.MQTT_PORT ?? 1883);
const httpPort = Number(process.env.HTTP_PORT ?? 8080);
const host = process.env.MQTT_HOST ?? '127.0.0.1';

let publishes = 0;
// Same figures as the gateway's prom-client default metrics (reset at every scrape), for the ratio.
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
function lagMetrics(): string {
  const lines = [
    `fleet_process_nodejs_eventloop_lag_p50_seconds ${lag.percentile(50) / 1e9}`,
    `fleet_process_nodejs_eventloop_lag_p99_seconds ${lag.percentile(99) / 1e9}`,
    `fleet_process_nodejs_eventloop_lag_max_seconds ${lag.max / 1e9}`,
  ];
  lag.reset();
  return `${lines.join('\n')}\n`;
}
const aedes = await Aedes.createBroker({ id: `bench-plain-${process.pid}`, heartbeatInterval: 60_000 });
aedes.on('publish', (_packet, client) => {
  if (client) publishes++;
});
const mqttServer = createServer((socket) => aedes.handle(socket));
await new Promise<void>((resolve) => mqttServer.listen(mqttPort, host, resolve));

const httpServer = createHttpServer((req, res) => {
  if (req.url === '/health/ready') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  } else if (req.url === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`bench_broker_publishes_total ${publishes}\n${lagMetrics()}`);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => httpServer.listen(httpPort, process.env.HTTP_HOST ?? '127.0.0.1', resolve));

let closing = false;
function shutdown(): void {
  if (closing) return;
  closing = true;
  httpServer.close();
  mqttServer.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5_000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown);
