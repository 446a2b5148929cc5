import { createHash } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { ownerWithKeys, platformService, UNLIMITED, within } from "./support.js";
import { openStream } from "../helpers/sse.js";

describeEachStore("GET /v1/keys/revocations", (store) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store, env: UNLIMITED });
  });
  afterAll(async () => server?.close());

  it("needs a credential with keys:verify", async () => {
    const api = client(server.url);
    const none = await api.get("/v1/keys/revocations");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("unauthenticated");
    const owner = await ownerWithKeys(server.url);
    const reader = await owner.key(["services:read"]);
    const sse = { accept: "text/event-stream" };
    const wrong = await api.get("/v1/keys/revocations", { token: reader.key, headers: sse });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toMatchObject({
      code: "scope_insufficient",
      required: ["keys:verify"],
    });
    // A plain request (no Accept: text/event-stream) is refused rather than left hanging.
    const plain = await api.get("/v1/keys/revocations", { token: owner.serviceKey });
    expect(plain.status).toBe(400);
    expect(plain.body.error.details[0].field).toBe("accept");
  });

  it("streams a revocation as ids and a hash prefix, never the key or its hash", async () => {
    const owner = await ownerWithKeys(server.url);
    const { id, key } = await owner.key(["services:read"]);
    const stream = await openStream(server.url, owner.serviceKey);
    try {
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get("content-type")).toContain("text/event-stream");
      await within(2000, async () => stream.state.text.includes("event: ready"));
      await owner.revoke(id);
      await within(1000, async () => stream.state.text.includes("event: key_changed"));
      const hash = createHash("sha256").update(key).digest("hex");
      const frame = stream.state.text.split("\n\n").find((f) => f.includes(id))!;
      const data = JSON.parse(frame.split("data: ")[1]!);
      expect(data).toEqual({ key_id: id, key_hash_prefix: hash.slice(0, 16), revoked: true });
      expect(stream.state.text).not.toContain(key);
      expect(stream.state.text).not.toContain(hash);
    } finally {
      stream.close();
    }
  });

  it("ends the stream when its own key is revoked", async () => {
    const service = await platformService(server.url);
    const stream = await openStream(server.url, service.key);
    await within(2000, async () => stream.state.text.includes("event: ready"));
    const revoked = await client(server.url).delete(`/v1/api-keys/${service.id}`, {
      token: service.account.accessToken,
    });
    expect(revoked.status).toBe(200);
    await within(2000, async () => stream.state.ended);
    const again = await client(server.url).get("/v1/keys/revocations", {
      token: service.key,
      headers: { accept: "text/event-stream" },
    });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe("key_revoked");
  });

  it("releases its bus subscription when the client goes away", async () => {
    const bus = server.services.deps.bus;
    const subscribe = bus.subscribe.bind(bus);
    let active = 0;
    bus.subscribe = (handler) => {
      active += 1;
      const off = subscribe(handler);
      return () => {
        active -= 1;
        off();
      };
    };
    try {
      const owner = await ownerWithKeys(server.url);
      const stream = await openStream(server.url, owner.serviceKey);
      await within(2000, async () => stream.state.text.includes("event: ready"));
      expect(active).toBe(1);
      stream.close();
      await within(2000, async () => active === 0);
    } finally {
      bus.subscribe = subscribe;
    }
  });

  it("lets the server shut down promptly with streams open", async () => {
    const other = await startTestServer({ store, env: UNLIMITED });
    const owner = await ownerWithKeys(other.url);
    const streams = await Promise.all([1, 2, 3].map(() => openStream(other.url, owner.serviceKey)));
    await within(2000, async () => streams.every((s) => s.state.text.includes("event: ready")));
    const started = performance.now();
    await other.close();
    expect(performance.now() - started).toBeLessThan(3000);
    await Promise.all(streams.map((s) => s.done));
    expect(streams.every((s) => s.state.ended)).toBe(true);
  });
});
