import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VerifyBody, VerifyResponse } from "../api/keys.js";
import { Whoami } from "../api/schemas.js";
import { compileAccept, fastSerializerCompiler, fastValidatorCompiler } from "./compiled.js";

const accepts = compileAccept(VerifyBody);

const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom("", " ", "  x  ", "\t", "POST /v1/x", "a".repeat(200), "a".repeat(201)),
);
const ip = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom("01.2.3.4", "256.1.1.1", "::", "::ffff:1.2.3.4", "1.2.3", "fe80::1%eth0", ""),
  text,
);
const body = fc.record(
  {
    key: fc.oneof(text, fc.constant("lk_live_" + "A".repeat(49)), fc.constant("k".repeat(257))),
    scopes: fc.oneof(
      fc.array(text, { maxLength: 3 }),
      fc.array(fc.constant("s"), { minLength: 65, maxLength: 66 }),
      fc.constant("x"),
    ),
    project_id: fc.oneof(text, fc.integer()),
    endpoint: text,
    ip,
    lease: fc.oneof(fc.integer({ min: -2, max: 1002 }), fc.double(), fc.constant("5")),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);

describe("compiled validation of POST /v1/keys/verify", () => {
  it("never accepts a body zod refuses, and zod's value is then the body itself", () => {
    fc.assert(
      fc.property(fc.oneof(body, fc.anything()), (candidate) => {
        if (!accepts(candidate)) return;
        const parsed = VerifyBody.safeParse(candidate);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(candidate);
      }),
      { numRuns: 3000 },
    );
  });

  it("accepts the bodies services send, so they never take zod's slower path", () => {
    for (const ok of [
      { key: "lk_live_x" },
      { key: "k", scopes: ["services:read"], project_id: "prj_1", endpoint: "GET /x" },
      { key: "k", ip: "203.0.113.9", lease: 1000 },
      { key: "k", ip: "2001:db8::1", endpoint: " GET /x " },
    ])
      expect(accepts(ok)).toBe(true);
  });

  it("leaves refusals to zod, so their details read as on every other route", () => {
    const validate = fastValidatorCompiler({
      schema: VerifyBody,
      method: "POST",
      url: "/v1/keys/verify",
      httpPart: "body",
    });
    // zod's own errors (as fastify-type-provider-zod reports them): two problems, both named.
    const refused = validate({ key: "", nope: 1 }) as { error?: { keyword: string }[] };
    expect(refused.error?.map((e) => e.keyword).sort()).toEqual(["too_small", "unrecognized_keys"]);
    const blank = validate({ key: "k", endpoint: "   " }) as { error?: unknown };
    expect(blank.error).toBeDefined();
  });
});

describe("compiled serialisation of the verify answer", () => {
  const serialize = fastSerializerCompiler({ schema: VerifyResponse, httpStatus: "200" });
  const answers = [
    {
      valid: true,
      code: "valid",
      key_id: "key_1",
      owner_id: "usr_1",
      org_id: null,
      environment: "live",
      scopes: ["services:read", "keys:verify"],
      project_id: null,
      expires_at: "2027-01-01T00:00:00.000Z",
      ratelimit: { limit: 1000, remaining: 999, reset: 1_800_000_000_000 },
      meta: {
        customer: "cus_1",
        limits: { seats: 5 },
        tags: ["a", 'quote " and \\ slash'],
        n: null,
      },
      lease: { granted: 10, reset: 1_800_000_000_000, reset_in: 59_000 },
      remaining: 41,
      ratelimits: [
        { name: "api", scope: "owner", limit: 100, remaining: 7, reset: 1_800_000_000_000 },
      ],
    },
    {
      valid: false,
      code: "key_invalid",
      key_id: null,
      owner_id: null,
      org_id: null,
      environment: null,
      scopes: [],
      project_id: null,
      expires_at: null,
      ratelimit: null,
      meta: null,
      remaining: null,
      ratelimits: [],
    },
  ];

  it("writes exactly what JSON.stringify would", () => {
    for (const answer of answers) expect(JSON.parse(serialize(answer))).toEqual(answer);
  });

  it("keeps JSON.stringify for error answers, whose extras vary", () => {
    const error = {
      error: { code: "invalid_request", message: "m", request_id: "r", details: [] },
    };
    const plain = fastSerializerCompiler({ schema: VerifyResponse, httpStatus: "400" });
    expect(plain(error)).toBe(JSON.stringify(error));
  });
});

describe("compiled serialisation of whoami", () => {
  it("writes exactly what JSON.stringify would, for a key and for a session", () => {
    const serialize = fastSerializerCompiler({ schema: Whoami, httpStatus: "200" });
    const base = {
      user_id: "usr_1",
      email: 'a"b@example.test',
      email_verified: false,
      role: "owner",
      staff: false,
      service: true,
      plan: "free",
      org_id: null,
      orgs: [{ id: "org_1", name: 'Acme "A"', role: "admin" }],
    };
    for (const answer of [
      {
        ...base,
        credential_type: "api_key",
        session_id: null,
        key_id: "key_1",
        environment: "live",
        project_id: "prj_1",
        amr: [],
        scopes: ["keys:read", "services:read"],
      },
      {
        ...base,
        credential_type: "session",
        session_id: "ses_1",
        key_id: null,
        environment: null,
        project_id: null,
        amr: ["pwd", "otp"],
        scopes: [],
      },
    ])
      expect(JSON.parse(serialize(answer))).toEqual(answer);
  });
});
