import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config.js";
import { passkeyAmr } from "./passkeys.js";
import { isAllowedOrigin, readClientData } from "./relying-party.js";

const env = (extra: Record<string, string> = {}) => ({ LATCHKEY_DATA_DIR: "/tmp/x", ...extra });

describe("the WebAuthn relying party", () => {
  it("defaults to localhost, any port, in development", () => {
    const { webauthn } = loadConfig(env());
    expect(webauthn).toEqual({ rpId: "localhost", rpName: "Latchkey", origins: null });
    expect(isAllowedOrigin(webauthn, "http://localhost:5173")).toBe(true);
    expect(isAllowedOrigin(webauthn, "https://localhost")).toBe(true);
    expect(isAllowedOrigin(webauthn, "http://127.0.0.1:8080")).toBe(false);
    expect(isAllowedOrigin(webauthn, "http://localhost.evil.example")).toBe(false);
    expect(isAllowedOrigin(webauthn, "http://localhost:5173/path")).toBe(false);
    expect(isAllowedOrigin(webauthn, "not a url")).toBe(false);
  });

  it("takes the public URL's origin and host when one is set", () => {
    const { webauthn } = loadConfig(env({ LATCHKEY_PUBLIC_URL: "https://keys.example.com/" }));
    expect(webauthn).toEqual({
      rpId: "keys.example.com",
      rpName: "Latchkey",
      origins: ["https://keys.example.com"],
    });
    expect(isAllowedOrigin(webauthn, "https://keys.example.com")).toBe(true);
    expect(isAllowedOrigin(webauthn, "http://keys.example.com")).toBe(false);
    expect(isAllowedOrigin(webauthn, "http://localhost:8080")).toBe(false);
  });

  it("takes configured origins and RP ID, and refuses ones that are not origins", () => {
    const { webauthn } = loadConfig(
      env({
        LATCHKEY_WEBAUTHN_RP_ID: "Example.com",
        LATCHKEY_WEBAUTHN_ORIGINS: "https://a.example.com, https://b.example.com:8443",
      }),
    );
    expect(webauthn.rpId).toBe("example.com");
    expect(webauthn.origins).toEqual(["https://a.example.com", "https://b.example.com:8443"]);
    expect(() => loadConfig(env({ LATCHKEY_WEBAUTHN_ORIGINS: "ftp://x.example" }))).toThrow(
      /LATCHKEY_WEBAUTHN_ORIGINS/,
    );
    expect(() => loadConfig(env({ LATCHKEY_WEBAUTHN_RP_ID: "https://x" }))).toThrow(
      /LATCHKEY_WEBAUTHN_RP_ID/,
    );
  });

  it("reads the challenge and origin of client data, and nothing from garbage", () => {
    const data = Buffer.from(
      JSON.stringify({ type: "webauthn.get", challenge: "abc", origin: "http://localhost" }),
    ).toString("base64url");
    expect(readClientData(data)).toEqual({
      type: "webauthn.get",
      challenge: "abc",
      origin: "http://localhost",
    });
    expect(readClientData("bm90LWpzb24")).toBeNull();
    expect(readClientData(Buffer.from("[1]").toString("base64url"))).toBeNull();
    expect(readClientData(Buffer.from('{"challenge":1}').toString("base64url"))).toBeNull();
  });

  it("names a passkey sign-in's factors as RFC 8176 does", () => {
    expect(passkeyAmr(true, false)).toEqual(["hwk", "user", "mfa"]);
    expect(passkeyAmr(false, false)).toEqual(["hwk", "user"]);
    expect(passkeyAmr(false, true)).toEqual(["pwd", "hwk", "user", "mfa"]);
  });
});
