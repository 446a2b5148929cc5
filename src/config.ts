import { resolve } from "node:path";
import { z } from "zod";
import { parseDuration } from "./core/durations.js";
import { PLANS, type Plan } from "./core/plans.js";
import { DEFAULT_CATALOGUE, ROLES } from "./core/scopes.js";
import { OWASP_COST, TEST_COST, type HashCost } from "./infra/hash-pool.js";
import { parseIpAllow } from "./services/keys/ip-allow.js";

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null) {
        ctx.addIssue({ code: "custom", message: `not a duration: ${text}` });
        return z.NEVER;
      }
      return ms;
    });

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const ENV = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("127.0.0.1"),
  LATCHKEY_DATA_DIR: z.string().default("./.latchkey"),
  DATABASE_URL: z.string().optional(),
  REDIS_URL: z.string().optional(),
  LATCHKEY_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/)
    .default("latchkey:"),
  LATCHKEY_MASTER_KEY: z.string().optional(),
  // The master-key ring, newest (sealing) key first; LATCHKEY_MASTER_KEY is a ring of one.
  LATCHKEY_MASTER_KEYS: z.string().optional(),
  LATCHKEY_SIGNING_KEY: z.string().optional(),
  LATCHKEY_KEY_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,15}$/, "lowercase letters and digits, starting with a letter")
    .default("lk"),
  LATCHKEY_ISSUER: z.string().optional(),
  // The `aud` of access tokens: comma-separated for several platform services.
  LATCHKEY_TOKEN_AUDIENCE: z
    .string()
    .regex(/^\s*[^\s,]+(\s*,\s*[^\s,]+)*\s*$/, "one or more audiences, comma-separated")
    .optional(),
  // How recent an authentication sensitive actions need (SPEC §9 step-up).
  LATCHKEY_STEP_UP_MAX_AGE: duration("10m"),
  // The portal's address: mailed links start with it.
  LATCHKEY_PUBLIC_URL: z
    .url({ protocol: /^https?$/, message: "an http:// or https:// URL" })
    .optional(),
  LATCHKEY_TOTP_ISSUER: z.string().default("Latchkey"),
  // Passkeys (WebAuthn, SPEC §9): the relying party and the origins its ceremonies may come from.
  LATCHKEY_WEBAUTHN_RP_ID: z
    .string()
    .regex(
      /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i,
      "a domain, e.g. example.com",
    )
    .optional(),
  LATCHKEY_WEBAUTHN_RP_NAME: z.string().min(1).max(64).default("Latchkey"),
  LATCHKEY_WEBAUTHN_ORIGINS: z.string().optional(),
  LATCHKEY_SCOPES: z.string().optional(),
  LATCHKEY_DEFAULT_ROLE: z.enum(ROLES).default("owner"),
  LATCHKEY_DEFAULT_PLAN: z.enum(PLANS).default("free"),
  LATCHKEY_RATE_LIMIT_LIVE: int(1000),
  LATCHKEY_RATE_LIMIT_TEST: int(10000),
  LATCHKEY_ACCESS_TTL: duration("1h"),
  LATCHKEY_REFRESH_TTL: z.string().optional(),
  LATCHKEY_SESSION_IDLE: z.string().optional(),
  LATCHKEY_SESSION_MAX_AGE: duration("30d"),
  LATCHKEY_LOGIN_MAX_FAILURES: int(10),
  LATCHKEY_LOGIN_MAX_FAILURES_IP: int(50),
  LATCHKEY_LOGIN_WINDOW: duration("15m"),
  LATCHKEY_LOGIN_BACKOFF_AFTER: int(5),
  LATCHKEY_LOGIN_BACKOFF_MAX: duration("60s"),
  LATCHKEY_USAGE_FLUSH_MS: int(500),
  LATCHKEY_USAGE_ACTIVITY_SAMPLE: int(100),
  LATCHKEY_USAGE_ACTIVITY_PER_SECOND: int(2000),
  LATCHKEY_TRUST_PROXY: z.string().default("false"),
  LATCHKEY_SECURE_COOKIES: z.enum(["true", "false", "auto"]).default("auto"),
  LATCHKEY_PASSWORD_HASH: z.enum(["owasp", "test"]).default("owasp"),
  LATCHKEY_BREACHED_PASSWORDS: z.string().optional(),
  SMTP_URL: z
    .string()
    .regex(
      /^(smtps?:\/\/\S+)?$/,
      "an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587",
    )
    .optional(),
  LATCHKEY_MAIL_FROM: z
    .string()
    .regex(/^[^\r\n]*@[^\r\n@]+$/, "an address, e.g. Latchkey <no-reply@example.com>")
    .optional(),
  LATCHKEY_MAIL_POLL_MS: int(1000),
  LATCHKEY_REQUIRE_VERIFIED_EMAIL: z.enum(["true", "false"]).default("false"),
  LATCHKEY_RESET_MAX_PER_EMAIL: int(5),
  LATCHKEY_RESET_MAX_PER_IP: int(20),
  LATCHKEY_LEAK_REPORTS_PER_MINUTE: int(20),
  // Issue 20: a key's credit balance at or below this is audited once as key_credits_low.
  LATCHKEY_CREDITS_LOW_THRESHOLD: z.coerce.number().int().min(0).default(10),
  // Issue 17: webhooks. Private, loopback and link-local targets are refused unless allowed.
  LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: z.enum(["true", "false"]).default("false"),
  LATCHKEY_WEBHOOKS_TIMEOUT_MS: int(10_000),
  LATCHKEY_WEBHOOKS_POLL_MS: int(1000),
  LATCHKEY_SCHEDULER_MS: int(60_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** SQLite file path or a postgres:// URL. */
  database: string;
  redisUrl: string | undefined;
  /** Namespace of every Redis key and channel, so instances of one cluster share it and others don't. */
  redisPrefix: string;
  /** The master-key ring from the environment, newest first; unset: the data dir's key files. */
  masterKeys:
    { variable: "LATCHKEY_MASTER_KEYS" | "LATCHKEY_MASTER_KEY"; values: string[] } | undefined;
  signingKey: string | undefined;
  keyBrand: string;
  issuer: string;
  /** Every access token's `aud`; Latchkey's API accepts a token whose `aud` holds one of them. */
  tokenAudience: readonly string[];
  /** Sensitive actions need an authentication (`auth_time`) younger than this (step-up). */
  stepUpMaxAgeMs: number;
  publicUrl: string;
  totpIssuer: string;
  webauthn: WebAuthnConfig;
  scopes: readonly string[];
  defaultRole: (typeof ROLES)[number];
  defaultPlan: Plan;
  rateLimits: { live: number; test: number };
  accessTtlMs: number;
  /** How long a session may go without a refresh (each refresh token's lifetime). */
  sessionIdleMs: number;
  /** When a session ends, counted from sign-in, however often it is refreshed. */
  sessionMaxAgeMs: number;
  login: {
    /** Failures per account from one address, per window (the window grows each time). */
    maxFailuresPerAccount: number;
    /** Failures per address, all accounts together, per window. */
    maxFailuresPerIp: number;
    windowMs: number;
    /** Failures per account, all addresses, before each attempt waits (1 s, doubling). */
    backoffAfter: number;
    /** The longest such wait. */
    backoffMaxMs: number;
  };
  usageFlushMs: number;
  /** At most this many activity rows per key per flush; the other uses are counted as sampled. */
  usageActivitySample: number;
  /** Activity rows an instance writes per second at most, all keys together. */
  usageActivityPerSecond: number;
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses and CIDR ranges. */
  trustProxy: false | number | string[];
  secureCookies: "true" | "false" | "auto";
  logLevel: string;
  mail: {
    /** `smtp://` / `smtps://` (nodemailer); unset: messages are written to `<dataDir>/outbox/`. */
    smtpUrl: string | undefined;
    /** The From of every message. */
    from: string;
    /** How often the sender looks for due messages (it is also woken by each new one). */
    pollMs: number;
  };
  /** Unverified accounts may not mint API keys (403 `email_unverified`). */
  requireVerifiedEmail: boolean;
  /** Password-reset requests per email and per address, per LATCHKEY_LOGIN_WINDOW. */
  reset: { maxPerEmail: number; maxPerIp: number };
  /** argon2id's cost for new password hashes: OWASP's baseline unless a test runner asked for less. */
  passwordHash: HashCost;
  /**
   * Breached passwords refused at signup, change and reset (NIST 800-63B §3.1.1.2): a file
   * sorted by SHA-1, a directory of range files, or a range API URL; null: none.
   */
  breachedPasswords: string | null;
  /** Leak reports (`POST /v1/keys/leaks`) an address may send per minute without `keys:report`. */
  leakReportsPerMinute: number;
  /** A key's credits falling to this or below is recorded once (`key_credits_low`). */
  creditsLowThreshold: number;
  webhooks: {
    /** Deliver to loopback, private and link-local addresses (development, tests). */
    allowPrivate: boolean;
    /** How long one delivery may take, connection to answer. */
    timeoutMs: number;
    /** How often the sender looks for due deliveries (it is also woken by each new event). */
    pollMs: number;
  };
  /** How often the cluster-once scheduler runs its tasks (key.expiring and key.expired). */
  schedulerMs: number;
}

/** The WebAuthn relying party (passkeys). */
export interface WebAuthnConfig {
  /** The RP ID: the domain passkeys are bound to. */
  rpId: string;
  /** The name authenticators show. */
  rpName: string;
  /**
   * The origins a ceremony may come from; null in development (no LATCHKEY_PUBLIC_URL and no
   * LATCHKEY_WEBAUTHN_ORIGINS): any port of http://localhost, the only host a browser lets
   * use passkeys without TLS.
   */
  origins: readonly string[] | null;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Environment → typed config, validated once at start. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ENV.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  // LATCHKEY_REFRESH_TTL is the older name of the idle limit.
  const idleText = e.LATCHKEY_SESSION_IDLE ?? e.LATCHKEY_REFRESH_TTL ?? "14d";
  const idle = parseDuration(idleText);
  if (idle === null)
    throw new ConfigError(
      `invalid configuration: LATCHKEY_SESSION_IDLE: not a duration: ${idleText}`,
    );
  const passwordHash = passwordHashCost(e.LATCHKEY_PASSWORD_HASH, env);
  const dataDir = resolve(e.LATCHKEY_DATA_DIR);
  const publicUrl =
    e.LATCHKEY_PUBLIC_URL ?? `http://${e.HOST.includes(":") ? `[${e.HOST}]` : e.HOST}:${e.PORT}`;
  const scopes = e.LATCHKEY_SCOPES
    ? e.LATCHKEY_SCOPES.split(/[\s,]+/).filter(Boolean)
    : [...DEFAULT_CATALOGUE];
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    database: e.DATABASE_URL ?? resolve(dataDir, "latchkey.db"),
    redisUrl: e.REDIS_URL || undefined,
    redisPrefix: e.LATCHKEY_REDIS_PREFIX,
    masterKeys: masterKeysOf(e.LATCHKEY_MASTER_KEYS, e.LATCHKEY_MASTER_KEY),
    signingKey: e.LATCHKEY_SIGNING_KEY,
    keyBrand: e.LATCHKEY_KEY_PREFIX,
    issuer: e.LATCHKEY_ISSUER ?? "latchkey",
    tokenAudience: (e.LATCHKEY_TOKEN_AUDIENCE ?? "latchkey").split(",").map((aud) => aud.trim()),
    stepUpMaxAgeMs: e.LATCHKEY_STEP_UP_MAX_AGE,
    publicUrl,
    totpIssuer: e.LATCHKEY_TOTP_ISSUER,
    webauthn: webauthnConfig(e, publicUrl),
    scopes,
    defaultRole: e.LATCHKEY_DEFAULT_ROLE,
    defaultPlan: e.LATCHKEY_DEFAULT_PLAN,
    rateLimits: { live: e.LATCHKEY_RATE_LIMIT_LIVE, test: e.LATCHKEY_RATE_LIMIT_TEST },
    accessTtlMs: e.LATCHKEY_ACCESS_TTL,
    sessionIdleMs: idle,
    sessionMaxAgeMs: e.LATCHKEY_SESSION_MAX_AGE,
    login: {
      maxFailuresPerAccount: e.LATCHKEY_LOGIN_MAX_FAILURES,
      maxFailuresPerIp: e.LATCHKEY_LOGIN_MAX_FAILURES_IP,
      windowMs: e.LATCHKEY_LOGIN_WINDOW,
      backoffAfter: e.LATCHKEY_LOGIN_BACKOFF_AFTER,
      backoffMaxMs: e.LATCHKEY_LOGIN_BACKOFF_MAX,
    },
    usageFlushMs: e.LATCHKEY_USAGE_FLUSH_MS,
    usageActivitySample: e.LATCHKEY_USAGE_ACTIVITY_SAMPLE,
    usageActivityPerSecond: e.LATCHKEY_USAGE_ACTIVITY_PER_SECOND,
    trustProxy: parseTrustProxy(e.LATCHKEY_TRUST_PROXY),
    secureCookies: e.LATCHKEY_SECURE_COOKIES,
    logLevel: e.LOG_LEVEL,
    passwordHash,
    breachedPasswords: e.LATCHKEY_BREACHED_PASSWORDS || null,
    mail: {
      smtpUrl: e.SMTP_URL || undefined,
      from: e.LATCHKEY_MAIL_FROM ?? `Latchkey <no-reply@${mailDomain(publicUrl)}>`,
      pollMs: e.LATCHKEY_MAIL_POLL_MS,
    },
    requireVerifiedEmail: e.LATCHKEY_REQUIRE_VERIFIED_EMAIL === "true",
    reset: {
      maxPerEmail: e.LATCHKEY_RESET_MAX_PER_EMAIL,
      maxPerIp: e.LATCHKEY_RESET_MAX_PER_IP,
    },
    leakReportsPerMinute: e.LATCHKEY_LEAK_REPORTS_PER_MINUTE,
    creditsLowThreshold: e.LATCHKEY_CREDITS_LOW_THRESHOLD,
    webhooks: {
      allowPrivate: e.LATCHKEY_WEBHOOKS_ALLOW_PRIVATE === "true",
      timeoutMs: e.LATCHKEY_WEBHOOKS_TIMEOUT_MS,
      pollMs: e.LATCHKEY_WEBHOOKS_POLL_MS,
    },
    schedulerMs: e.LATCHKEY_SCHEDULER_MS,
  };
}

function masterKeysOf(ring: string | undefined, single: string | undefined): Config["masterKeys"] {
  // Empty counts as unset (as `LATCHKEY_MASTER_KEY=` always has): the data dir's files.
  if (ring?.trim() && single?.trim())
    throw new ConfigError(
      "invalid configuration: set LATCHKEY_MASTER_KEYS or LATCHKEY_MASTER_KEY, not both",
    );
  if (ring?.trim()) {
    const values = ring.split(",").map((value) => value.trim());
    if (values.some((value) => value === ""))
      throw new ConfigError("invalid configuration: LATCHKEY_MASTER_KEYS has an empty entry");
    return { variable: "LATCHKEY_MASTER_KEYS", values };
  }
  if (single?.trim()) return { variable: "LATCHKEY_MASTER_KEY", values: [single.trim()] };
  return undefined;
}

function webauthnConfig(e: z.infer<typeof ENV>, publicUrl: string): WebAuthnConfig {
  let origins: string[] | null = null;
  if (e.LATCHKEY_WEBAUTHN_ORIGINS) {
    origins = e.LATCHKEY_WEBAUTHN_ORIGINS.split(",")
      .map((text) => text.trim())
      .filter(Boolean)
      .map((text) => {
        const origin = originOf(text);
        if (!origin)
          throw new ConfigError(
            `invalid configuration: LATCHKEY_WEBAUTHN_ORIGINS: not an http(s) origin: ${text}`,
          );
        return origin;
      });
  } else if (e.LATCHKEY_PUBLIC_URL) {
    origins = [new URL(publicUrl).origin];
  }
  const host = new URL(origins?.[0] ?? publicUrl).hostname;
  // An address is no RP ID (WebAuthn needs a domain): development runs on localhost.
  const rpId = e.LATCHKEY_WEBAUTHN_RP_ID ?? (/^[\d.]+$|^\[/.test(host) ? "localhost" : host);
  return { rpId: rpId.toLowerCase(), rpName: e.LATCHKEY_WEBAUTHN_RP_NAME, origins };
}

function originOf(text: string): string | null {
  try {
    const url = new URL(text);
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    return url.origin;
  } catch {
    return null;
  }
}

/** The public URL's host as a mail domain (`localhost` for an address literal). */
function mailDomain(publicUrl: string): string {
  let host: string;
  try {
    host = new URL(publicUrl).hostname;
  } catch {
    return "localhost";
  }
  return /^[a-z0-9.-]+$/i.test(host) && /[a-z]/i.test(host) ? host : "localhost";
}

/**
 * LATCHKEY_PASSWORD_HASH=test makes password hashes cheap, so a test suite can sign up
 * hundreds of accounts. It is honoured only when the same environment says a test runner
 * is in charge (NODE_ENV=test, or VITEST as vitest sets it); anywhere else it is refused, so
 * a production server never starts with weak hashes by a stray variable.
 */
function passwordHashCost(setting: "owasp" | "test", env: NodeJS.ProcessEnv): HashCost {
  if (setting === "owasp") return OWASP_COST;
  const underTest = env.NODE_ENV === "test" || Boolean(env.VITEST);
  if (!underTest)
    throw new ConfigError(
      "invalid configuration: LATCHKEY_PASSWORD_HASH=test is for test runs only " +
        "(it needs NODE_ENV=test); production uses the default, owasp",
    );
  return TEST_COST;
}

/**
 * Which peers may set X-Forwarded-For: `false` (none, the default), a hop count (`1`: the
 * one load balancer in front), or the proxies' addresses and CIDR ranges. `true` would take
 * the leftmost entry, which any client can write, so it is refused.
 */
export function parseTrustProxy(text: string): false | number | string[] {
  const value = text.trim();
  if (value === "" || value === "false" || value === "0") return false;
  if (value === "true")
    throw new ConfigError(
      "invalid configuration: LATCHKEY_TRUST_PROXY=true would trust any client's X-Forwarded-For; " +
        "set the number of proxies in front of Latchkey (e.g. 1) or their addresses (e.g. 10.0.0.0/8)",
    );
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value);
    if (hops > 32)
      throw new ConfigError("invalid configuration: LATCHKEY_TRUST_PROXY: at most 32 hops");
    return hops;
  }
  const entries = value.split(",").map((entry) => entry.trim());
  const parsed = parseIpAllow(entries);
  if (Array.isArray(parsed))
    throw new ConfigError(
      `invalid configuration: LATCHKEY_TRUST_PROXY: ${parsed.map((p) => p.message).join("; ")} ` +
        "(give a hop count or comma-separated proxy addresses / CIDR ranges)",
    );
  return parsed.ranges;
}
