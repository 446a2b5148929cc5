/**
 * X-Forwarded-For is trusted by hop count or by the proxies' addresses, never wholesale
 * (ASVS 4.1.3): the client address is what the trusted proxy saw, not what the client wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseTrustProxy } from "../../src/config.js";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { account, createKey, type Account, type Api } from "../http/api-keys-fixtures.js";

describe("LATCHKEY_TRUST_PROXY", () => {
  it("takes false, a hop count or proxy addresses, and refuses true", () => {
    expect(parseTrustProxy("false")).toBe(false);
    expect(parseTrustProxy("0")).toBe(false);
    expect(parseTrustProxy("1")).toBe(1);
    expect(parseTrustProxy("10.0.0.0/8, 192.168.1.7,fd00::/8")).toEqual([
      "10.0.0.0/8",
      "192.168.1.7/32",
      "fd00::/8",
    ]);
    expect(() => parseTrustProxy("true")).toThrow(ConfigError);
    expect(() => parseTrustProxy("true")).toThrow(/number of proxies.*or their addresses/);
    expect(() => parseTrustProxy("yes")).toThrow(ConfigError);
    expect(() => parseTrustProxy("10.0.0.0/99")).toThrow(ConfigError);
    expect(() => loadConfig({ LATCHKEY_TRUST_PROXY: "true" })).toThrow(/LATCHKEY_TRUST_PROXY/);
    expect(loadConfig({ LATCHKEY_TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(loadConfig({}).trustProxy).toBe(false);
  });
});

const FORGED = { "x-forwarded-for": "198.51.100.7, 203.0.113.9" };

describeEachStore("forwarded-for behind a trusted proxy", (store) => {
  const servers: TestServer[] = [];
  afterAll(async () => Promise.all(servers.map((s) => s.close())));

  async function setUp(trust: string | null) {
    const env: Record<string, string> = trust === null ? {} : { LATCHKEY_TRUST_PROXY: trust };
    const server = await startTestServer({ store, env });
    servers.push(server);
    const api = client(server.url);
    const user = await account(server);
    const key = await createKey(api, user.token, { ip_allow: ["198.51.100.7/32"] });
    return { server, api, user, key };
  }

  let hop: { api: Api; user: Account; key: { key: string } };
  beforeAll(async () => {
    hop = await setUp("1");
  });

  it("with one trusted hop, a client-written leftmost entry does not pass ip_allow", async () => {
    const forged = await hop.api.get("/v1/auth/whoami", { token: hop.key.key, headers: FORGED });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe("ip_not_allowed");
    // The proxy's own entry (the rightmost) is the client.
    const real = await hop.api.get("/v1/auth/whoami", {
      token: hop.key.key,
      headers: { "x-forwarded-for": "198.51.100.7" },
    });
    expect(real.status).toBe(200);
  });

  it("records the proxy-seen address in the audit log, not the forged one", async () => {
    await hop.api.post(
      "/v1/auth/login",
      { email: hop.user.email, password: "wrong-password-entirely" },
      { headers: FORGED },
    );
    const audit = await hop.api.get("/v1/audit-log?event=login_failed", { token: hop.user.token });
    expect(audit.body.events[0].ip).toBe("203.0.113.9");
  });

  it("with the proxy's address trusted, the same forgery fails", async () => {
    const { api, key } = await setUp("127.0.0.1/32");
    const forged = await api.get("/v1/auth/whoami", { token: key.key, headers: FORGED });
    expect(forged.body.error.code).toBe("ip_not_allowed");
  });

  it("without a trusted proxy, X-Forwarded-For is ignored", async () => {
    const { api, key } = await setUp(null);
    const forged = await api.get("/v1/auth/whoami", {
      token: key.key,
      headers: { "x-forwarded-for": "198.51.100.7" },
    });
    expect(forged.body.error.code).toBe("ip_not_allowed");
  });
});
