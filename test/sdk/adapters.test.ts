import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { createVerifier, type Verifier } from "latchkey";
import { expressGuard } from "latchkey/express";
import { fastifyGuard } from "latchkey/fastify";
import { honoGuard, type LatchkeyVariables } from "latchkey/hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { ownerWithKeys, UNLIMITED } from "./support.js";

interface Service {
  url: string;
  close(): Promise<void>;
}

/** The same two routes in each framework: GET /things (services:read), POST /things (services:write). */
const ADAPTERS: Record<string, (verifier: Verifier) => Promise<Service>> = {
  async fastify(verifier) {
    const app = Fastify();
    const guard = fastifyGuard(verifier);
    app.get("/things", { preHandler: guard.requireScopes("services:read") }, async (request) => ({
      principal: request.latchkey,
    }));
    app.post("/things", { preHandler: guard.requireScopes("services:write") }, async () => ({
      ok: true,
    }));
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url, close: () => app.close() };
  },
  async express(verifier) {
    const app = express();
    const guard = expressGuard(verifier);
    app.get("/things", guard.requireScopes("services:read"), (req, res) => {
      res.json({ principal: req.latchkey });
    });
    app.post("/things", guard.requireScopes("services:write"), (_req, res) => {
      res.json({ ok: true });
    });
    const listener = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => listener.once("listening", resolve));
    const { port } = listener.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise((resolve) => listener.close(() => resolve())),
    };
  },
  async hono(verifier) {
    const app = new Hono<{ Variables: LatchkeyVariables }>();
    const guard = honoGuard(verifier);
    app.get("/things", guard.requireScopes("services:read"), (c) =>
      c.json({ principal: c.get("latchkey") }),
    );
    app.post("/things", guard.requireScopes("services:write"), (c) => c.json({ ok: true }));
    const listener = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
        resolve(started),
      );
    });
    const { port } = listener.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise((resolve) => listener.close(() => resolve())),
    };
  },
};

describe("service adapters", () => {
  let latchkey: TestServer;
  let owner: Awaited<ReturnType<typeof ownerWithKeys>>;
  let reader: { id: string; key: string };
  let logsOnly: { id: string; key: string };

  beforeAll(async () => {
    latchkey = await startTestServer({ env: UNLIMITED });
    owner = await ownerWithKeys(latchkey.url);
    reader = await owner.key(["services:read"]);
    logsOnly = await owner.key(["logs:read"]);
  });
  afterAll(async () => latchkey?.close());

  for (const [name, start] of Object.entries(ADAPTERS)) {
    describe(name, () => {
      let service: Service;
      let verifier: Verifier;

      beforeAll(async () => {
        verifier = createVerifier({ baseUrl: latchkey.url, apiKey: owner.serviceKey });
        service = await start(verifier);
      });
      afterAll(async () => {
        await service?.close();
        await verifier?.close();
      });

      it("answers 401 unauthenticated in the spec's error shape without a credential", async () => {
        const reply = await client(service.url).get("/things");
        expect(reply.status).toBe(401);
        expect(reply.body.error).toMatchObject({ code: "unauthenticated" });
        expect(reply.body.error.request_id).toEqual(expect.any(String));
        expect(reply.body.error.message).toEqual(expect.any(String));
        expect(reply.headers.get("www-authenticate")).toContain("Bearer");
        const malformed = await client(service.url).get("/things", {
          headers: { authorization: "Basic abc" },
        });
        expect(malformed.status).toBe(401);
        expect(malformed.body.error.code).toBe("unauthenticated");
      });

      it("answers 401 key_invalid for a key Latchkey does not know", async () => {
        const reply = await client(service.url).get("/things", { token: "lk_live_nope" });
        expect(reply.status).toBe(401);
        expect(reply.body.error.code).toBe("key_invalid");
      });

      it("answers 403 scope_insufficient with the required scopes for the wrong scope", async () => {
        const reply = await client(service.url).get("/things", { token: logsOnly.key });
        expect(reply.status).toBe(403);
        expect(reply.body.error).toMatchObject({
          code: "scope_insufficient",
          required: ["services:read"],
        });
        const write = await client(service.url).post("/things", {}, { token: reader.key });
        expect(write.status).toBe(403);
        expect(write.body.error.required).toEqual(["services:write"]);
      });

      it("admits a key with the scope and attaches its principal", async () => {
        const reply = await client(service.url).get("/things", { token: reader.key });
        expect(reply.status).toBe(200);
        expect(reply.body.principal).toMatchObject({
          type: "api_key",
          keyId: reader.id,
          userId: owner.userId,
          scopes: ["services:read"],
        });
      });

      it("admits a signed-in user's access token by the user's access", async () => {
        const reply = await client(service.url).post("/things", {}, { token: owner.accessToken });
        expect(reply.status).toBe(200);
        expect(reply.body).toEqual({ ok: true });
      });
    });
  }
});
