import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LatchkeyError } from "../../core/errors.js";
import { testServices, type TestDeps } from "../../../test/store/deps.js";
import { refuseWeakPassword } from "./password-rules.js";

describe("refuseWeakPassword", () => {
  let t: TestDeps | null = null;
  afterEach(async () => t?.close());

  it("refuses what the breached list knows, with the field named", async () => {
    t = await testServices({
      deps: {
        breachedPasswords: {
          count: (p) => Promise.resolve(p === "known-breached-one" ? 12 : 0),
          close: () => Promise.resolve(),
        },
      },
    });
    const refusal = await refuseWeakPassword(t.deps, "known-breached-one", "a@b.test", "pw").catch(
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(LatchkeyError);
    expect((refusal as LatchkeyError).extras).toMatchObject({ details: [{ field: "pw" }] });
    await expect(
      refuseWeakPassword(t.deps, "a-fine-long-passphrase", "a@b.test", "pw"),
    ).resolves.toBeUndefined();
  });

  it("lets a password through when the list fails, and logs why without the password", async () => {
    let logged = "";
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    t = await testServices({
      deps: {
        logger: pino({ level: "warn" }, sink),
        breachedPasswords: {
          count: () => Promise.reject(new Error("range API answered 503")),
          close: () => Promise.resolve(),
        },
      },
    });
    await expect(
      refuseWeakPassword(t.deps, "secret-passphrase-9f", "a@b.test", "password"),
    ).resolves.toBeUndefined();
    expect(logged).toContain("breached-password list unavailable");
    expect(logged).toContain("range API answered 503");
    expect(logged).not.toContain("secret-passphrase-9f");
  });
});
