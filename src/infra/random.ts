import { createHash, randomBytes, randomUUID } from "node:crypto";

/** Where every id, key and code gets its randomness: injected, so tests can seed it. */
export interface Random {
  bytes(n: number): Buffer;
  uuid(): string;
}

/** The operating system's CSPRNG: what production uses. */
export const cryptoRandom: Random = {
  bytes: (n) => randomBytes(n),
  uuid: () => randomUUID(),
};

/**
 * A deterministic stream (SHA-256 of seed and counter) for tests: the same seed gives the
 * same ids, keys and codes in the same order. Never for production: it is predictable.
 */
export function seededRandom(seed: string): Random {
  let counter = 0;
  let pool = Buffer.alloc(0);
  const bytes = (n: number): Buffer => {
    while (pool.length < n) {
      const block = createHash("sha256").update(`${seed}:${counter++}`).digest();
      pool = Buffer.concat([pool, block]);
    }
    const out = Buffer.from(pool.subarray(0, n));
    pool = pool.subarray(n);
    return out;
  };
  return {
    bytes,
    uuid: () => {
      const b = bytes(16);
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      const hex = b.toString("hex");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };
}
