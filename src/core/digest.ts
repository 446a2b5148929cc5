import * as crypto from "node:crypto";

// One-shot hashing (Node ≥ 20.12) skips the Hash object a createHash call builds: SHA-256 is
// on every key verification. Node 20.11 (the oldest we support) falls back.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string })
  .hash;

/** Hex SHA-256 of a UTF-8 string: how keys, refresh tokens and MFA tokens are stored and matched. */
export const sha256: (text: string) => string = oneShot
  ? (text) => oneShot("sha256", text, "hex")
  : (text) => crypto.createHash("sha256").update(text).digest("hex");
