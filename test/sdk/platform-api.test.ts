import type { FastifyInstance } from "fastify";
import type { Verifier } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildPlatformApi } from "../../examples/platform-api/app.js";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { ownerWithKeys, UNLIMITED, within } from "./support.js";

describeEachStore("examples/platform-api protected by Latchkey", (store) => {
  let latchkey: TestServer;
  let owner: Awaited<ReturnType<typeof ownerWithKeys>>;
  let app: FastifyInstance;
  let verifier: Verifier;
  let url: string;

  beforeAll(async () => {
    latchkey = await startTestServer({ store, env: UNLIMITED });
    owner = await ownerWithKeys(latchkey.url);
    // A long cache: only the revocation stream can make the service forget a key in time.
    ({ app, verifier } = await buildPlatformApi({
      latchkeyUrl: latchkey.url,
      apiKey: owner.serviceKey,
      cacheTtlMs: 10 * 60_000,
    }));
    url = await app.listen({ port: 0, host: "127.0.0.1" });
    await within(5000, async () => verifier.streaming);
  });
  afterAll(async () => {
    await app?.close();
    await latchkey?.close();
  });

  it("lists services with services:read and refuses a deploy without services:write", async () => {
    const { key } = await owner.key(["services:read"]);
    const api = client(url);
    const list = await api.get("/v1/services", { token: key });
    expect(list.status).toBe(200);
    expect(list.body.services.map((s: { id: string }) => s.id)).toContain("svc_web");
    const deploy = await api.post("/v1/services/svc_web/deploy", {}, { token: key });
    expect(deploy.status).toBe(403);
    expect(deploy.body.error).toMatchObject({
      code: "scope_insufficient",
      required: ["services:write"],
    });
    expect((await api.get("/v1/services")).status).toBe(401);
  });

  it("deploys with services:write and records which key did it", async () => {
    const { id, key } = await owner.key(["services:read", "services:write"]);
    const deploy = await client(url).post("/v1/services/svc_api/deploy", {}, { token: key });
    expect(deploy.status).toBe(202);
    expect(deploy.body.service).toMatchObject({
      id: "svc_api",
      status: "deploying",
      deployed_by: id,
    });
  });

  it("refuses a revoked key within one second while its answer is cached", async () => {
    const { id, key } = await owner.key(["services:read"]);
    const api = client(url);
    expect((await api.get("/v1/services", { token: key })).status).toBe(200);
    expect((await api.get("/v1/services", { token: key })).status).toBe(200);

    const revoke = await client(latchkey.url).delete(`/v1/api-keys/${id}`, {
      token: owner.accessToken,
    });
    expect(revoke.status).toBe(200);
    const revokedAt = performance.now();
    let last = 0;
    await within(1000, async () => {
      const reply = await api.get("/v1/services", { token: key });
      last = reply.status;
      return reply.status === 401;
    });
    expect(performance.now() - revokedAt).toBeLessThan(1000);
    expect(last).toBe(401);
    const after = await api.get("/v1/services", { token: key });
    expect(after.body.error.code).toBe("key_revoked");
  });
});
