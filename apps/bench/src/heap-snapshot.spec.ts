import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { summarizeHeapSnapshot, topGrowth, totalBytes } from './heap-snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'heap-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A snapshot in V8's layout: one node per line, one string per line. */
function snapshot(nodes: [type: number, name: number, size: number][], strings: string[]): string {
  const meta = {
    node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
    node_types: [['hidden', 'array', 'string', 'object', 'code', 'closure'], 'string', 'number', 'number', 'number', 'number', 'number'],
  };
  const nodeLines = nodes.map(([t, n, s], i) => `${i ? ',' : ''}${t},${n},${i * 2 + 1},${s},0,0,0`);
  return [
    `{"snapshot":{"meta":${JSON.stringify(meta)},"node_count":${nodes.length},"edge_count":0,"trace_function_count":0},`,
    `"nodes":[${nodeLines.join('\n')}`,
    '],',
    '"edges":[],',
    '"locations":[],',
    `"strings":[${strings.map((s) => JSON.stringify(s)).join(',\n')}]}`,
  ].join('\n');
}

describe('heap snapshot summary', () => {
  it('groups objects by constructor and other nodes by kind, and finds what grew', async () => {
    const strings = ['<dummy>', 'Socket', 'Buffer', 'a "quoted",\nname', 'x'];
    const before = join(dir, 'before.heapsnapshot');
    const after = join(dir, 'after.heapsnapshot');
    writeFileSync(
      before,
      snapshot(
        [
          [3, 1, 100],
          [3, 2, 50],
          [2, 4, 20],
          [5, 4, 10],
        ],
        strings,
      ),
    );
    writeFileSync(
      after,
      snapshot(
        [
          [3, 1, 100],
          [3, 1, 100],
          [3, 1, 100],
          [3, 2, 50],
          [2, 4, 20],
          [2, 4, 30],
          [5, 4, 10],
          [3, 3, 7],
        ],
        strings,
      ),
    );
    const a = await summarizeHeapSnapshot(before);
    const b = await summarizeHeapSnapshot(after);
    expect(a.get('Socket')).toEqual({ count: 1, bytes: 100 });
    expect(b.get('(string)')).toEqual({ count: 2, bytes: 50 });
    expect(b.get('(closure)')).toEqual({ count: 1, bytes: 10 });
    expect(totalBytes(b)).toBe(417);
    expect(topGrowth(a, b, 10)).toEqual([
      { name: 'Socket', countBefore: 1, countAfter: 3, bytesBefore: 100, bytesAfter: 300 },
      { name: '(string)', countBefore: 1, countAfter: 2, bytesBefore: 20, bytesAfter: 50 },
      { name: 'a "quoted",\nname', countBefore: 0, countAfter: 1, bytesBefore: 0, bytesAfter: 7 },
    ]);
  });

  it('reads a real V8 snapshot', async () => {
    // From a bare node process: a few MiB, where this Jest worker's heap would take seconds.
    const path = join(dir, 'real.heapsnapshot');
    execFileSync(process.execPath, ['-e', `require('node:v8').writeHeapSnapshot(${JSON.stringify(path)})`]);
    const summary = await summarizeHeapSnapshot(path);
    expect(summary.get('Object')?.count).toBeGreaterThan(10);
    expect(totalBytes(summary)).toBeGreaterThan(1_000_000);
  }, 30_000); // a child process and a few MiB to parse: past Jest's 5 s default on a loaded 2-core machine
});
