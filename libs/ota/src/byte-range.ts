/** The answer to a `Range` header for a representation of `size` bytes (RFC 9110 section 14). */
export type RangeDecision =
  /** No (usable) Range: send the whole representation with 200. */
  | { kind: 'full' }
  /** One satisfiable range: 206 with Content-Range `bytes start-end/size` (end inclusive). */
  | { kind: 'partial'; start: number; end: number }
  /** 416 with Content-Range `bytes *\/size`. */
  | { kind: 'unsatisfiable' };

const SPEC = /^(\d*)-(\d*)$/;

/**
 * Parses a single-range `bytes=` header. Multiple ranges are answered with the whole file (allowed
 * by RFC 9110 and far simpler for terminals than multipart/byteranges); a header in another unit or
 * malformed is ignored (200), as the RFC says; a syntactically valid range that starts at or past
 * the end is 416.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) return { kind: 'full' };
  const specs = m[1].split(',').map((s) => s.trim());
  if (specs.length !== 1) return { kind: 'full' };
  const spec = SPEC.exec(specs[0]);
  if (!spec || (spec[1] === '' && spec[2] === '')) return { kind: 'full' };
  // Positions longer than 15 digits are past any file (and past exact doubles): a first position
  // there is unsatisfiable, a last one means "to the end".
  if (spec[1].length > 15) return { kind: 'unsatisfiable' };
  if (spec[2].length > 15) spec[2] = spec[1] === '' ? String(Number.MAX_SAFE_INTEGER) : '';
  if (spec[1] === '') {
    // Suffix range: the last N bytes.
    const n = Number(spec[2]);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(spec[1]);
  // A last position before the first is invalid syntax: ignored.
  if (spec[2] !== '' && Number(spec[2]) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = spec[2] === '' ? size - 1 : Math.min(Number(spec[2]), size - 1);
  return { kind: 'partial', start, end };
}
