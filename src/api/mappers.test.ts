import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  toAuditEntry,
  toPortalSession,
  toPublicUser,
  toSession,
  toTokenPair,
  toTwoFactorSetup,
  toTwoFactorStatus,
  toWhoami,
} from "./mappers.js";
import { PortalSession } from "./portal.js";
import { AuditEntry, Session, TokenPair, User, Whoami } from "./schemas.js";
import { TwoFactorSetupResponse, TwoFactorStatus } from "./twofa.js";

const T = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const ISO = "2026-01-02T03:04:05.678Z";

/** The mapped value is exactly the wire shape: the schema's keys, in the schema's order. */
function expectWire<S extends z.ZodObject>(schema: S, value: unknown, expected: z.infer<S>) {
  expect(value).toEqual(expected);
  expect(Object.keys(value as object)).toEqual(Object.keys(schema.shape));
  expect(schema.parse(value)).toEqual(expected);
}

describe("account mappers", () => {
  it("maps session tokens to the bearer pair and the portal's session", () => {
    const tokens = { accessToken: "eyJ.a.b", refreshToken: "lkr_x", accessTtlSeconds: 900 };
    expectWire(TokenPair, toTokenPair(tokens), {
      access_token: "eyJ.a.b",
      refresh_token: "lkr_x",
      token_type: "Bearer",
      expires_in: 900,
    });
    expectWire(PortalSession, toPortalSession(tokens), { expires_in: 900 });
  });

  it("maps a user, with its creation time as ISO 8601", () => {
    const user = {
      id: "usr_1",
      email: "ada@example.test",
      role: "owner",
      isStaff: true,
      isService: false,
      plan: "free",
      disabled: false,
      emailVerified: true,
      createdAt: T,
    } as const;
    expectWire(User, toPublicUser(user), {
      id: "usr_1",
      email: "ada@example.test",
      role: "owner",
      staff: true,
      service: false,
      plan: "free",
      disabled: false,
      email_verified: true,
      created_at: ISO,
    });
  });

  it("maps a session", () => {
    const session = {
      id: "ses_1",
      createdAt: T,
      lastUsedAt: T + 1000,
      expiresAt: T + 2000,
      ip: null,
      userAgent: "ua",
      amr: ["pwd", "otp"],
      current: false,
    };
    expectWire(Session, toSession(session), {
      id: "ses_1",
      created_at: ISO,
      last_used_at: "2026-01-02T03:04:06.678Z",
      expires_at: "2026-01-02T03:04:07.678Z",
      ip: null,
      user_agent: "ua",
      amr: ["pwd", "otp"],
      current: false,
    });
  });

  it("maps a principal to whoami, scopes sorted", () => {
    const p: Parameters<typeof toWhoami>[0] = {
      type: "api_key",
      user: {
        id: "usr_1",
        email: "ada@example.test",
        role: "member",
        isStaff: false,
        isService: true,
        plan: "pro",
        disabled: false,
        emailVerified: false,
        access: new Set(),
        orgs: [{ id: "org_1", name: "Acme", role: "admin" }],
      },
      sessionId: null,
      amr: [],
      key: { id: "key_1", environment: "test", projectId: "prj_1" },
      scopes: new Set(["keys:write", "audit:read"]),
    };
    expectWire(Whoami, toWhoami(p), {
      user_id: "usr_1",
      email: "ada@example.test",
      email_verified: false,
      role: "member",
      staff: false,
      service: true,
      plan: "pro",
      credential_type: "api_key",
      session_id: null,
      key_id: "key_1",
      environment: "test",
      project_id: "prj_1",
      amr: [],
      scopes: ["audit:read", "keys:write"],
      org_id: null,
      orgs: [{ id: "org_1", name: "Acme", role: "admin" }],
    });
  });

  it("maps 2FA setup and status; enabled_at is null while off", () => {
    expectWire(
      TwoFactorSetupResponse,
      toTwoFactorSetup({ secret: "ABC", otpauthUrl: "otpauth://totp/x", qrSvg: "<svg/>" }),
      { secret: "ABC", otpauth_url: "otpauth://totp/x", qr_svg: "<svg/>" },
    );
    expectWire(
      TwoFactorStatus,
      toTwoFactorStatus({ enabled: true, enabledAt: T, pending: false, backupCodesRemaining: 7 }),
      { enabled: true, enabled_at: ISO, pending: false, backup_codes_remaining: 7 },
    );
    expectWire(
      TwoFactorStatus,
      toTwoFactorStatus({
        enabled: false,
        enabledAt: null,
        pending: true,
        backupCodesRemaining: 0,
      }),
      { enabled: false, enabled_at: null, pending: true, backup_codes_remaining: 0 },
    );
  });

  it("maps an audit record", () => {
    const record = {
      id: 42,
      at: T,
      event: "login",
      userId: "usr_1",
      orgId: null,
      actor: null,
      ip: "203.0.113.1",
      details: { amr: ["pwd"] },
    };
    expectWire(AuditEntry, toAuditEntry(record), {
      id: 42,
      at: ISO,
      event: "login",
      user_id: "usr_1",
      org_id: null,
      actor: null,
      ip: "203.0.113.1",
      details: { amr: ["pwd"] },
    });
  });
});
