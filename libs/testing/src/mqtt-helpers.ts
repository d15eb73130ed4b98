import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { topics, type Heartbeat } from '#contracts';

/** A valid v1 heartbeat; override any field. */
export function makeHeartbeat(overrides: Partial<Heartbeat> = {}, at = new Date()): Heartbeat {
  return {
    v: 1,
    ts: at.toISOString(),
    seq: 1,
    model: 'EP-T1',
    firmware: { version: '2.4.1', appVersion: '5.0.3' },
    battery: { percent: 76, charging: false, temperatureC: 31.5 },
    signal: { rat: 'LTE', rsrp: -92, rsrq: -11, sinr: 9.5, rssi: -63, csq: 22, mccMnc: '46000', cellId: '1A2B3C4' },
    sim: {
      iccid: '89860012345678901234',
      imei: '861234567890123',
      type: 'esim',
      carrier: 'China Mobile',
      plan: { status: 'active', expiresAt: '2027-06-30', autoRenew: true, usedMb: 12.5, allowanceMb: 100 },
    },
    uptimeS: 3600,
    ...overrides,
  };
}

export type ConnectResult = { ok: true; client: MqttClient } | { ok: false; returnCode: number | null; error: string };

/** Connects once (no automatic reconnect) and reports CONNACK acceptance or refusal. */
export function connectTerminal(url: string, options: IClientOptions): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, clean: true, ...options });
    const done = (result: ConnectResult) => {
      client.removeAllListeners('connect');
      client.removeAllListeners('error');
      resolve(result);
    };
    client.once('connect', () => done({ ok: true, client }));
    client.once('error', (err: Error & { code?: number }) => {
      client.end(true);
      done({ ok: false, returnCode: typeof err.code === 'number' ? err.code : null, error: err.message });
    });
    client.once('close', () => {
      if (!client.connected) done({ ok: false, returnCode: null, error: 'closed' });
    });
  });
}

export async function connectOk(url: string, sn: string, secret: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const result = await connectTerminal(url, { clientId: sn, username: sn, password: secret, ...extra });
  if (!result.ok) throw new Error(`connect failed for ${sn}: ${result.error}`);
  result.client.on('error', () => undefined);
  return result.client;
}

export function publishHeartbeat(client: MqttClient, sn: string, payload: Heartbeat | string | Buffer, qos: 0 | 1 = 1): Promise<void> {
  const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
  return client.publishAsync(topics.heartbeat(sn), body, { qos }).then(() => undefined);
}

export async function waitFor<T>(fn: () => Promise<T>, predicate: (value: T) => boolean, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!predicate(last)) {
    if (Date.now() > deadline) throw new Error(`waitFor timed out; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, stepMs));
    last = await fn();
  }
  return last;
}

export function endClient(client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => client.end(force, {}, () => resolve()));
}
