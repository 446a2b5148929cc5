/**
 * Hostile input over every route in /openapi.json (so new routes are covered without
 * touching this file): random JSON shapes, wrong types, huge and invalid strings, deep
 * nesting, hostile path ids, with and without credentials. Every answer must be a 4xx
 * (or a success, when the random input happens to be valid) — never a 5xx, never a hang —
 * every error the spec's JSON, and the server must still answer afterwards.
 */
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BODY_LIMIT } from "../../src/http/app.js";
import { client, PASSWORD, signupAndLogin, uniqueEmail, expectError } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore, STORES } from "../helpers/stores.js";
import { expectSpecError } from "./support.js";

const SEED = Number(process.env.FC_SEED ?? 20261125);
// Both stores share the file's time budget (< 60 s on a loaded 2-core machine).
const RUNS = STORES.length > 1 ? 150 : 250;
const TIMEOUT_MS = 10_000;

interface Operation {
  method: string;
  path: string;
  hasBody: boolean;
  fields: string[];
  query: string[];
  label: string;
}

interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content?: Record<string, { schema?: { properties?: object } }> };
        parameters?: { in: string; name: string }[];
      }
    >
  >;
}

function operationsOf(doc: OpenApi): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const schema = op.requestBody?.content?.["application/json"]?.schema;
      ops.push({
        method: method.toUpperCase(),
        path,
        hasBody: op.requestBody !== undefined,
        fields: Object.keys(schema?.properties ?? {}),
        query: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
        label: `${method.toUpperCase()} ${path}`,
      });
    }
  }
  return ops;
}

export const SQL_LIKE = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "'; DROP TABLE users; --",
  '" OR ""="',
  "1; SELECT pg_sleep(10)",
  "1 UNION SELECT password_hash FROM users",
  "admin'--",
  "%' AND 1=0 UNION ALL SELECT 1 --",
];
export const TRAVERSAL = [
  "../../../../etc/passwd",
  "..\\..\\..\\windows\\win.ini",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "....//....//etc/passwd",
  "/etc/passwd\u0000.json",
  "..%c0%af..%c0%afetc",
];
const ODD = [
  "",
  " ",
  "\u0000",
  "\r\nSet-Cookie: pwned=1",
  "\uFEFF",
  "\uD800",
  "𝕃𝕒𝕥𝕔𝕙",
  "<script>alert(1)</script>",
  "${jndi:ldap://x/a}",
  "{{7*7}}",
  "__proto__",
  "constructor",
  "NaN",
  "-1",
  "9".repeat(400),
];

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(...SQL_LIKE, ...TRAVERSAL, ...ODD),
  fc.string({ minLength: 300, maxLength: 3_000, unit: "grapheme-ascii" }),
);

const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(hostileString, fc.constantFrom("__proto__", "constructor")),
      tie("value"),
      {
        maxKeys: 4,
      },
    ),
  ),
})).value;

/** A body for an operation: any JSON at all, or the route's own fields with wrong values. */
function bodyFor(op: Operation): fc.Arbitrary<unknown> {
  if (op.fields.length === 0) return fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileValue);
  const fields = Object.fromEntries(op.fields.map((f) => [f, hostileValue]));
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    hostileValue,
    fc.record(fields, { requiredKeys: [] }),
    fc
      .tuple(fc.record(fields), fc.string({ minLength: 1, maxLength: 10 }), hostileValue)
      .map(([known, extra, value]) => ({ ...known, [`x_${extra}`]: value })),
  );
}

const hostileId = fc.oneof(
  fc.constantFrom(...SQL_LIKE, ...TRAVERSAL, ...ODD.filter((s) => s.length > 0)),
  fc.string({ minLength: 1, maxLength: 260 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
  // Malformed percent-encoding and encoded separators, sent as they are.
  fc.constantFrom(
    "raw:%",
    "raw:%zz",
    "raw:%E0%A4%A",
    "raw:%ff%fe",
    "raw:%00",
    "raw:..%2f..%2f",
    "raw:%2e%2e",
  ),
);

/** Percent-encodes an id, lone surrogates included; `raw:` ids go into the path verbatim. */
function encodeId(id: string): string {
  if (id.startsWith("raw:")) return id.slice(4);
  return [...Buffer.from(id, "utf8")]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, "0")}`,
    )
    .join("");
}

const CONTENT_TYPES = [
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json; charset=latin1",
  "",
];

describeEachStore("hostile input on every route", (store) => {
  let server: TestServer;
  let ops: Operation[];
  const credentials: Record<string, string | undefined> = {};

  beforeAll(async () => {
    server = await startTestServer({
      store,
      // The fuzzer sends many bad logins from one address; keep the IP throttle out of the way.
      env: { LATCHKEY_LOGIN_MAX_FAILURES_IP: "1000000" },
    });
    const staff = await signupAndLogin(server.url, uniqueEmail("staff"));
    const member = await signupAndLogin(server.url, uniqueEmail("member"));
    credentials.none = undefined;
    credentials.staff = staff.accessToken;
    credentials.member = member.accessToken;
    credentials.garbage = "not-a-token";
    const api = client(server.url);
    const key = await api.post(
      "/v1/api-keys",
      { name: "fuzz", scopes: ["*"] },
      { token: member.accessToken },
    );
    expect(key.status).toBe(201);
    credentials.apiKey = key.body.key;
    const doc = await api.get("/openapi.json");
    expect(doc.status).toBe(200);
    ops = operationsOf(doc.body as OpenApi);
    expect(ops.length).toBeGreaterThan(5);
  });
  afterAll(async () => server?.close());

  async function send(
    op: Operation,
    init: {
      id?: string;
      token?: string;
      body?: string | Buffer;
      contentType?: string;
      query?: string;
    },
  ) {
    let path = op.path.replace(/\{[^}]+\}/g, () => encodeId(init.id ?? "nope"));
    if (init.query) path += `?${init.query}`;
    const headers: Record<string, string> = {};
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.body !== undefined && init.contentType) headers["content-type"] = init.contentType;
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer in ${TIMEOUT_MS} ms`)),
      TIMEOUT_MS,
    );
    const response = await fetch(server.url + path, {
      method: op.method,
      headers,
      body: typeof init.body === "string" || !init.body ? init.body : new Uint8Array(init.body),
      signal: abort.signal,
    });
    // A stream (the revocation feed) is meant to stay open: its prompt headers are the answer.
    if (
      response.status === 200 &&
      response.headers.get("content-type")?.includes("text/event-stream")
    ) {
      clearTimeout(timer);
      abort.abort();
      return { status: response.status, body: null, headers: response.headers };
    }
    const text = await response.text().finally(() => clearTimeout(timer));
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the text: expectSpecError reports it
    }
    return { status: response.status, body, headers: response.headers };
  }

  function check(reply: { status: number; body: unknown; headers: Headers }, context: string) {
    expect(reply.status, context).toBeLessThan(500);
    if (reply.status >= 400) expectSpecError(reply.status, reply.body, context);
    expect(reply.headers.get("set-cookie") ?? "", context).not.toContain("pwned");
  }

  it("answers random shapes, wrong types and hostile ids with a spec 4xx, never a 5xx or a hang", async () => {
    // Logging out would end the fuzzer's own session; everything else is fair game.
    const targets = ops.filter((op) => op.label !== "POST /v1/auth/logout");
    const input = fc.record({
      op: fc.constantFrom(...targets),
      cred: fc.constantFrom(...Object.keys(credentials)),
      id: hostileId,
      contentType: fc.constantFrom(...CONTENT_TYPES),
      query: fc.dictionary(fc.string({ maxLength: 12 }), hostileString, { maxKeys: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        input.chain((i) =>
          (i.op.hasBody ? bodyFor(i.op) : fc.constant(undefined)).map((body) => ({ ...i, body })),
        ),
        async ({ op, cred, id, body, contentType, query }) => {
          const reply = await send(op, {
            id,
            token: credentials[cred],
            body: body === undefined ? undefined : JSON.stringify(body),
            contentType,
            query: new URLSearchParams(query).toString(),
          });
          check(reply, `${op.label} as ${cred}`);
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it("answers huge strings with 400 under the 64 KiB limit and 413 payload_too_large above it", async () => {
    for (const op of ops.filter((o) => o.hasBody)) {
      const field = op.fields[0] ?? "x";
      for (const [size, expected] of [
        [BODY_LIMIT - 1_024, 400],
        [BODY_LIMIT + 1, 413],
        [1_000_000, 413],
      ] as const) {
        const body = JSON.stringify({ [field]: "a".repeat(size) });
        for (const token of [undefined, credentials.member]) {
          const reply = await send(op, { id: "x", token, body, contentType: "application/json" });
          const context = `${op.label} with ${size} bytes ${token ? "signed in" : "anonymous"}`;
          check(reply, context);
          // A refused credential or missing scope may answer first; a too-large body never passes.
          if (expected === 413 && reply.status !== 401 && reply.status !== 403)
            expect((reply.body as any).error.code, context).toBe("payload_too_large");
          if (
            expected === 400 &&
            reply.status !== 401 &&
            reply.status !== 403 &&
            reply.status !== 404
          )
            expectError(reply, 400, "invalid_request", context);
        }
      }
    }
  });

  it("answers 10 000 levels of nesting with a spec 4xx", async () => {
    const depth = 10_000;
    const arrays = "[".repeat(depth) + "]".repeat(depth);
    const objects = '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
    for (const op of ops.filter((o) => o.hasBody)) {
      const field = op.fields[0] ?? "a";
      for (const body of [arrays, objects, `{"${field}":${arrays}}`, `{"${field}":${objects}}`]) {
        expect(body.length).toBeLessThan(BODY_LIMIT);
        const reply = await send(op, {
          id: "x",
          token: credentials.member,
          body,
          contentType: "application/json",
        });
        check(reply, `${op.label} nested`);
        expect(reply.status).toBeGreaterThanOrEqual(400);
      }
    }
  });

  it("answers invalid UTF-8, truncated JSON and duplicate keys with a spec 4xx", async () => {
    const bodies: Buffer[] = [
      Buffer.from([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0xaf, 0x22, 0x7d]),
      Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1]),
      Buffer.concat([
        Buffer.from('{"email":"'),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from('"}'),
      ]),
      Buffer.from('{"email": "a@b.c", "password": '),
      Buffer.from('{"email":"a@b.c","email":{"$gt":""}}'),
      Buffer.from('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}'),
      Buffer.from("\uFEFF{}"),
      Buffer.from("null"),
    ];
    for (const op of ops.filter((o) => o.hasBody)) {
      for (const body of bodies) {
        for (const token of [undefined, credentials.member]) {
          const reply = await send(op, { id: "x", token, body, contentType: "application/json" });
          check(reply, `${op.label} with ${body.toString("hex").slice(0, 40)}`);
        }
      }
    }
    // Prototype pollution through a body never reaches plain objects.
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it("refuses NUL characters anywhere (PostgreSQL text cannot hold them) with invalid_request", async () => {
    for (const op of ops.filter((o) => o.label !== "POST /v1/auth/logout")) {
      for (const token of [credentials.member, credentials.staff]) {
        const withId = await send(op, { id: "key\u0000x", token });
        check(withId, `${op.label} with NUL id`);
        if (op.hasBody) {
          for (const field of op.fields.length > 0 ? op.fields : ["x"]) {
            const body = JSON.stringify({ [field]: "a\u0000b", [`k\u0000`]: 1 });
            const reply = await send(op, { id: "x", token, body, contentType: "application/json" });
            check(reply, `${op.label} with NUL in ${field}`);
          }
        }
      }
    }
    const api = client(server.url);
    for (const [path, field] of [
      [`/v1/api-keys/${encodeURIComponent("a\u0000")}`, "params.id"],
      [`/v1/auth/sessions/${encodeURIComponent("\u0000")}`, "params.id"],
      [`/v1/audit-log?event=${encodeURIComponent("login\u0000")}`, "query.event"],
    ] as const) {
      const method = path.startsWith("/v1/auth/sessions") ? "delete" : "get";
      const reply = await api[method](path, { token: credentials.member });
      expectSpecError(reply.status, reply.body, path);
      expect(reply.body.error.code, path).toBe("invalid_request");
      expect(reply.body.error.details[0].field, path).toBe(field);
    }
    const signup = await api.post("/v1/auth/signup", {
      email: "nul@example.test",
      password: "long-enough-\u0000-passphrase",
    });
    expectError(signup, 400, "invalid_request");
    expect(signup.body.error.details[0].field).toBe("password");
  });

  it("is still up, and a genuine user can still sign up and in", async () => {
    const api = client(server.url);
    expect((await api.get("/healthz")).status).toBe(200);
    const email = uniqueEmail("after");
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    expect((await api.post("/v1/auth/login", { email, password: PASSWORD })).status).toBe(200);
    expect((await api.get("/v1/auth/whoami", { token: credentials.member })).status).toBe(200);
  });
});
