/**
 * The argon2 cost is configuration: OWASP's argon2id baseline by default, a cheap cost only
 * when the environment says a test runner started the server, and refused anywhere else.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { HashPool } from "../../src/infra/hash-pool.js";

const PASSWORD = "a-long-and-unusual-passphrase";

describe("LATCHKEY_PASSWORD_HASH", () => {
  it("defaults to OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane", async () => {
    const config = loadConfig({});
    expect(config.passwordHash).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    const hash = await new HashPool(config.passwordHash).hash(PASSWORD);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(loadConfig({ LATCHKEY_PASSWORD_HASH: "owasp" }).passwordHash).toEqual(
      config.passwordHash,
    );
  });

  it("refuses the test cost without a test marker, as a production server would start", () => {
    for (const env of [
      { LATCHKEY_PASSWORD_HASH: "test" },
      { LATCHKEY_PASSWORD_HASH: "test", NODE_ENV: "production" },
      { LATCHKEY_PASSWORD_HASH: "test", NODE_ENV: "" },
      { LATCHKEY_PASSWORD_HASH: "test", VITEST: "" },
    ]) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(/LATCHKEY_PASSWORD_HASH=test/);
    }
  });

  it("refuses a cost it does not know", () => {
    expect(() => loadConfig({ LATCHKEY_PASSWORD_HASH: "fast" })).toThrow(ConfigError);
    expect(() => loadConfig({ LATCHKEY_PASSWORD_HASH: "fast" })).toThrow(/LATCHKEY_PASSWORD_HASH/);
  });

  it("takes the cheap cost under a test runner; its hashes still verify and still refuse", async () => {
    for (const marker of [{ NODE_ENV: "test" }, { VITEST: "true" }]) {
      const config = loadConfig({ LATCHKEY_PASSWORD_HASH: "test", ...marker });
      expect(config.passwordHash.memoryCost).toBeLessThan(19_456);
      const pool = new HashPool(config.passwordHash);
      const hash = await pool.hash(PASSWORD);
      expect(hash).toMatch(/^\$argon2id\$v=19\$m=64,t=1,p=1\$/);
      expect(await pool.verify(hash, PASSWORD)).toBe(true);
      expect(await pool.verify(hash, `${PASSWORD}!`)).toBe(false);
    }
  });

  it("verifies hashes made at either cost, so a data dir moves between them", async () => {
    const strong = new HashPool(loadConfig({}).passwordHash);
    const cheap = new HashPool(
      loadConfig({ LATCHKEY_PASSWORD_HASH: "test", NODE_ENV: "test" }).passwordHash,
    );
    expect(await cheap.verify(await strong.hash(PASSWORD), PASSWORD)).toBe(true);
    expect(await strong.verify(await cheap.hash(PASSWORD), PASSWORD)).toBe(true);
  });
});
