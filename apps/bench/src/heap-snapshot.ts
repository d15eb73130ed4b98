/**
 * Heap snapshot summaries for the soak bench: objects grouped as DevTools' "Constructor" column
 * (objects by constructor name, everything else by kind such as "(string)", "(closure)"), with count
 * and self size, and the diff of two summaries. Reads V8's .heapsnapshot line by line (V8 writes one
 * node and one string per line), so a snapshot larger than the biggest JS string still parses.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface GroupSize {
  count: number;
  bytes: number;
}

/** By constructor/kind; the total under '' is not included. */
export type HeapSummary = Map<string, GroupSize>;

export interface GroupDelta {
  name: string;
  countBefore: number;
  countAfter: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** Node kinds grouped by their name (the constructor), like DevTools; the rest by kind. */
const BY_NAME = new Set(['object', 'native', 'regexp', 'symbol', 'bigint', 'wasm object']);

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
}

export async function summarizeHeapSnapshot(path: string): Promise<HeapSummary> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let section: 'header' | 'nodes' | 'skip' | 'strings' = 'header';
  let header = '';
  let meta: Meta | null = null;
  let stride = 0;
  let typeAt = 0;
  let nameAt = 0;
  let sizeAt = 0;
  // Per node: type index, name string index, self size.
  const types: number[] = [];
  const names: number[] = [];
  const sizes: number[] = [];
  const strings: string[] = [];
  const nodeValues = (text: string) => {
    const values = text.split(',').filter((v) => v !== '');
    for (let i = 0; i + stride <= values.length; i += stride) {
      types.push(Number(values[i + typeAt]));
      names.push(Number(values[i + nameAt]));
      sizes.push(Number(values[i + sizeAt]));
    }
  };
  for await (const line of lines) {
    if (section === 'header') {
      const at = line.indexOf('"nodes":[');
      if (at < 0) {
        header += line;
        continue;
      }
      header += line.slice(0, at);
      const parsed = JSON.parse(`${header.replace(/^\{/, '{').replace(/,\s*$/, '')}}`) as { snapshot: { meta: Meta } };
      meta = parsed.snapshot.meta;
      stride = meta.node_fields.length;
      typeAt = meta.node_fields.indexOf('type');
      nameAt = meta.node_fields.indexOf('name');
      sizeAt = meta.node_fields.indexOf('self_size');
      section = 'nodes';
      nodeValues(line.slice(at + '"nodes":['.length));
    } else if (section === 'nodes') {
      if (line.startsWith(']')) section = 'skip';
      else nodeValues(line.replace(/^,/, ''));
    } else if (section === 'skip') {
      if (line.startsWith('"strings":[')) {
        section = 'strings';
        pushString(strings, line.slice('"strings":['.length));
      }
    } else pushString(strings, line);
  }
  if (!meta) throw new Error(`${path}: not a V8 heap snapshot`);
  const kinds = meta.node_types[0];
  const summary: HeapSummary = new Map();
  for (let i = 0; i < types.length; i++) {
    const kind = kinds[types[i]] ?? 'unknown';
    const name = BY_NAME.has(kind) ? (strings[names[i]] ?? '?').slice(0, 80) : `(${kind})`;
    const group = summary.get(name);
    if (group) {
      group.count++;
      group.bytes += sizes[i];
    } else summary.set(name, { count: 1, bytes: sizes[i] });
  }
  return summary;
}

function pushString(strings: string[], line: string): void {
  const text = line.replace(/(,|\]\})$/, '');
  if (text === '') return;
  strings.push(JSON.parse(text) as string);
}

export function totalBytes(summary: HeapSummary): number {
  let total = 0;
  for (const g of summary.values()) total += g.bytes;
  return total;
}

/** The `top` groups that grew most in bytes from `before` to `after` (only groups that grew). */
export function topGrowth(before: HeapSummary, after: HeapSummary, top: number): GroupDelta[] {
  const out: GroupDelta[] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { count: 0, bytes: 0 };
    if (a.bytes > b.bytes) out.push({ name, countBefore: b.count, countAfter: a.count, bytesBefore: b.bytes, bytesAfter: a.bytes });
  }
  return out.sort((x, y) => y.bytesAfter - y.bytesBefore - (x.bytesAfter - x.bytesBefore)).slice(0, top);
}
