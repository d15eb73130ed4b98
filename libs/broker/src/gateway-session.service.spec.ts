import { describe, expect, it } from '@jest/globals';
import type { AppConfig } from '#config';
import type { PresenceRepository } from '#ingest';
import { GatewaySessionService } from './gateway-session.service.js';

/** Records the lease calls; `leaseAlive` is what the next renewal answers. */
class FakeLeases {
  readonly calls: string[] = [];
  leaseAlive = true;
  openSession(session: string): Promise<void> {
    this.calls.push(`open ${session}`);
    return Promise.resolve();
  }
  renewSession(): Promise<boolean> {
    this.calls.push('renew');
    return Promise.resolve(this.leaseAlive);
  }
  closeSession(session: string): Promise<void> {
    this.calls.push(`close ${session}`);
    return Promise.resolve();
  }
  expireSessions(input: { reason: string; atStart: boolean }): Promise<number> {
    this.calls.push(`expire ${input.reason}${input.atStart ? ' at start' : ''}`);
    return Promise.resolve(0);
  }
}

const config = (id: string | null, resetOnStart = true) =>
  ({ gateway: { id, leaseTtlMs: 1_000, leaseRenewMs: 20 }, mqtt: { presenceResetOnStart: resetOnStart } }) as unknown as AppConfig;
const service = (leases: FakeLeases, id: string | null = 'gw-1', resetOnStart = true) =>
  new GatewaySessionService(config(id, resetOnStart), leases as unknown as PresenceRepository);
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('GatewaySessionService', () => {
  it('names a session per start under the configured id (a generated one otherwise), and numbers connections', () => {
    const leases = new FakeLeases();
    const a = service(leases);
    const b = service(leases);
    expect(a.gatewayId).toBe('gw-1');
    expect(a.sessionId.startsWith('gw-1@')).toBe(true);
    expect(a.sessionId).not.toBe(b.sessionId);
    expect(service(leases, null).gatewayId).not.toBe(service(leases, null).gatewayId);
    expect([a.nextConnection(), a.nextConnection()]).toStrictEqual([
      { session: a.sessionId, epoch: 1 },
      { session: a.sessionId, epoch: 2 },
    ]);
  });

  it('opens its lease before clearing what stopped sessions left online; without the reset it only opens', async () => {
    const leases = new FakeLeases();
    const s = service(leases);
    await s.start({ live: () => [], reclaim: () => undefined });
    expect(leases.calls.slice(0, 2)).toStrictEqual([`open ${s.sessionId}`, 'expire server_restart at start']);
    await s.stop(true);

    const quiet = new FakeLeases();
    const q = service(quiet, 'gw-2', false);
    await q.start({ live: () => [], reclaim: () => undefined });
    expect(quiet.calls).toStrictEqual([`open ${q.sessionId}`]);
    await q.stop(false);
  });

  it('renews and reaps peers on every tick; a lease found gone is re-opened and the live connections re-claimed', async () => {
    const leases = new FakeLeases();
    const s = service(leases);
    const reclaimed: [string, number][][] = [];
    await s.start({ live: () => [['SN001', 3]], reclaim: (owned) => reclaimed.push([...owned]) });
    await until(() => leases.calls.includes('expire gateway_lost'));
    expect(reclaimed).toStrictEqual([]);
    leases.leaseAlive = false;
    await until(() => reclaimed.length > 0);
    expect(reclaimed[0]).toStrictEqual([['SN001', 3]]);
    expect(leases.calls.filter((c) => c === `open ${s.sessionId}`).length).toBeGreaterThanOrEqual(2);
    await s.stop(true);
    expect(leases.calls).toContain(`close ${s.sessionId}`);
    // No tick after stop (one already running may finish).
    await new Promise((r) => setTimeout(r, 10));
    const after = leases.calls.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(leases.calls.length).toBe(after);
  });
});
