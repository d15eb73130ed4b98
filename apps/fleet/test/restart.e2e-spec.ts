import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connectOk, endClient, startTestDatabase, startTestGateway, testDbKinds, waitFor, type TestDatabase } from '#testing';

const SN = 'RESTART001';

for (const kind of testDbKinds()) {
  describe(`restart after a crash on ${kind}`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await startTestDatabase(kind);
    });
    afterAll(async () => {
      await db?.stop();
    });

    it('closes the sessions a crashed run left open: offline in the state and in the presence history', async () => {
      const first = await startTestGateway(db);
      const secret = (await first.register([SN])).get(SN) ?? '';
      const client = await connectOk(first.mqttUrl, SN, secret);
      const history = () =>
        first.query<{ online: boolean; reason: string }>('SELECT online, reason FROM presence_events WHERE sn = $1 ORDER BY time, online DESC', [SN]);
      await waitFor(history, (rows) => rows.length === 1);
      await endClient(client, true);
      await first.close();
      // A crash records nothing: undo what the graceful close wrote, as if the process had died.
      const second = await startTestGateway(db);
      try {
        await second.query(`DELETE FROM presence_events WHERE sn = $1 AND NOT online`, [SN]);
        await second.query(`UPDATE terminal_state SET online = true, presence_changed_at = now() - interval '1 minute' WHERE sn = $1`, [SN]);
      } finally {
        await second.close();
      }

      const third = await startTestGateway(db);
      try {
        const [state] = await third.query<{ online: boolean; last_disconnect_reason: string }>(
          'SELECT online, last_disconnect_reason FROM terminal_state WHERE sn = $1',
          [SN],
        );
        expect(state).toStrictEqual({ online: false, last_disconnect_reason: 'server_restart' });
        const again = await connectOk(third.mqttUrl, SN, secret);
        const rows = await waitFor(
          () => third.query<{ online: boolean; reason: string }>('SELECT online, reason FROM presence_events WHERE sn = $1 ORDER BY time', [SN]),
          (r) => r.length === 3,
        );
        expect(rows.map((r) => [r.online, r.reason])).toStrictEqual([
          [true, 'connected'],
          [false, 'server_restart'],
          [true, 'connected'],
        ]);
        await endClient(again, true);
      } finally {
        await third.close();
      }
    });
  });
}
