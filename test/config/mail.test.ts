/** Mail and account-lifecycle settings (SPEC §9): checked once, at start. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("mail and lifecycle configuration", () => {
  it("defaults to files in the data dir, a no-reply From on the public host, and no verification rule", () => {
    const config = loadConfig({ LATCHKEY_PUBLIC_URL: "https://keys.example.com" });
    expect(config.mail).toEqual({
      smtpUrl: undefined,
      from: "Latchkey <no-reply@keys.example.com>",
      pollMs: 1000,
    });
    expect(config.requireVerifiedEmail).toBe(false);
    expect(config.reset).toEqual({ maxPerEmail: 5, maxPerIp: 20 });
    // An address literal is no mail domain.
    expect(loadConfig({}).mail.from).toBe("Latchkey <no-reply@localhost>");
  });

  it("reads SMTP_URL, LATCHKEY_MAIL_FROM, LATCHKEY_REQUIRE_VERIFIED_EMAIL and the reset limits", () => {
    const config = loadConfig({
      SMTP_URL: "smtps://user:pass@mail.example.com:465",
      LATCHKEY_MAIL_FROM: "Accounts <accounts@example.com>",
      LATCHKEY_REQUIRE_VERIFIED_EMAIL: "true",
      LATCHKEY_RESET_MAX_PER_EMAIL: "3",
      LATCHKEY_RESET_MAX_PER_IP: "9",
    });
    expect(config.mail.smtpUrl).toBe("smtps://user:pass@mail.example.com:465");
    expect(config.mail.from).toBe("Accounts <accounts@example.com>");
    expect(config.requireVerifiedEmail).toBe(true);
    expect(config.reset).toEqual({ maxPerEmail: 3, maxPerIp: 9 });
  });

  it("refuses settings that would only fail later, at the first mail", () => {
    for (const env of [
      { SMTP_URL: "mail.example.com:587" },
      { SMTP_URL: "http://mail.example.com" },
      { LATCHKEY_MAIL_FROM: "nobody" },
      { LATCHKEY_MAIL_FROM: "a@b.example\r\nBcc: x@y.example" },
      { LATCHKEY_PUBLIC_URL: "keys.example.com" },
      { LATCHKEY_PUBLIC_URL: "ftp://keys.example.com" },
      { LATCHKEY_REQUIRE_VERIFIED_EMAIL: "yes" },
    ])
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
  });
});
