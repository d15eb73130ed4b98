/**
 * Deterministic pseudo-random numbers for the simulator.
 *
 * The generator is mulberry32: one 32-bit word of state, so a terminal's whole random stream can be
 * carried inside its (plain, serialisable) state and a model step stays a pure function.
 */

const UINT32_RANGE = 0x1_0000_0000;

/** murmur3 finaliser: spreads every input bit over the whole word. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a hash of a string, finalised with murmur3's mixer. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Derives an independent 32-bit seed from a base seed and labels, e.g. deriveSeed(seed, sn, 'model'). */
export function deriveSeed(...parts: ReadonlyArray<string | number>): number {
  return hashString(parts.map(String).join('\u0000'));
}

export interface WeightedValue<T> {
  readonly value: T;
  readonly weight: number;
}

export class Prng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Current internal state; `new Prng(p.state)` continues the same stream. */
  get state(): number {
    return this.s >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = Math.imul(this.s ^ (this.s >>> 15), 1 | this.s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / UINT32_RANGE;
  }

  /** Uniform float in [min, max). */
  float(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)];
  }

  weighted<T>(entries: ReadonlyArray<WeightedValue<T>>): T {
    return pickByShare(entries, this.next());
  }

  /** Standard normal draw (Box-Muller), scaled. Uses two uniforms and caches nothing. */
  normal(mean = 0, sd = 1): number {
    const u1 = 1 - this.next(); // (0, 1]
    const u2 = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** `count` decimal digits as a string. */
  digits(count: number): string {
    let out = '';
    for (let i = 0; i < count; i++) out += String(Math.floor(this.next() * 10));
    return out;
  }
}

/** Picks the entry whose cumulative share interval contains `u` (0 <= u < 1). */
export function pickByShare<T>(entries: ReadonlyArray<WeightedValue<T>>, u: number): T {
  if (entries.length === 0) throw new Error('pick from an empty table');
  const total = entries.reduce((sum, e) => sum + e.weight, 0);
  let threshold = u * total;
  for (const entry of entries) {
    if (threshold < entry.weight) return entry.value;
    threshold -= entry.weight;
  }
  return entries[entries.length - 1].value;
}

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53] as const;

/**
 * Point `index` of a Kronecker (additive recurrence) sequence in one dimension: frac(offset + index * sqrt(p)).
 * Square roots of distinct primes are linearly independent over the rationals, so the dimensions are
 * jointly equidistributed and each one alone hits its shares almost exactly for every prefix 1..N.
 * The simulator uses it to assign categorical traits so that a fleet of 50 has the same mix as one of 50 000,
 * while terminal i's traits never depend on the fleet size.
 */
export function lowDiscrepancy(index: number, dimension: number, offset: number): number {
  const prime = PRIMES[dimension % PRIMES.length];
  const alpha = Math.sqrt(prime) % 1;
  const x = (offset + index * alpha) % 1;
  return x < 0 ? x + 1 : x;
}

/** Number of independent dimensions lowDiscrepancy supports. */
export const LOW_DISCREPANCY_DIMENSIONS = PRIMES.length;
