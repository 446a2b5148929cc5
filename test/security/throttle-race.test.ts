/**
 * The login throttle and the 2FA lockout under a burst (ASVS 6.3.1, NIST 800-63B §5.2.2):
 * requests that arrive together, before any of their failures is counted, must not get
 * more passwords or codes evaluated than the limit. An attempt takes its slot in the
 * counter before the password hash or the code check, so the rest answer 429 unevaluated.
 * Over real HTTP, on SQLite and PostgreSQL, with the in-memory limiter and with Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  client,
  PASSWORD,
  signupAndLogin,
  uniqueEmail,
  type Reply,
  expectError,
} from "../helpers/http.js";
import { hasRedis, startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore, type StoreKind } from "../helpers/stores.js";
import { enableTwoFactor, expectSpecError, manualClock, totpAt } from "./support.js";

/** The defaults (LATCHKEY_LOGIN_BACKOFF_AFTER, LATCHKEY_LOGIN_MAX_FAILURES_IP): after 5 failures an account's attempts go one at a time. */
const BACKOFF_AFTER = 5;
const IP_LIMIT = 50;
/** LATCHKEY_LOGIN_MAX_FAILURES: failures for one account from one address per window. */
const PAIR_LIMIT = 10;
/** An account's refusals: its back-off, or the limit for the account from one address. */
const THROTTLED = ["rate_limited", "too_many_attempts"];
/** SPEC §5: failed second-factor codes before the 15-minute pause. */
const CODE_LIMIT = 10;
const BURST = 40;

function tally(replies: Reply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const reply of replies) {
    const key = reply.status === 200 ? "200" : String(reply.body?.error?.code ?? reply.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Every reply that was not evaluated is a well-formed 429 (`code`) with retry_after. */
function expectRefusedAlike(
  replies: Reply[],
  evaluated: Set<string>,
  codes = ["too_many_attempts"],
) {
  const refused = replies.filter((r) => !evaluated.has(codeOf(r)));
  for (const reply of refused) {
    expectSpecError(reply.status, reply.body);
    expect(reply.status).toBe(429);
    expect(codes).toContain(reply.body.error.code);
    expect(reply.body.error.retry_after).toBeGreaterThan(0);
    expect(Number(reply.headers.get("retry-after"))).toBe(reply.body.error.retry_after);
  }
  return refused;
}

function codeOf(reply: Reply): string {
  return reply.status === 200 ? "200" : String(reply.body?.error?.code ?? reply.status);
}

/** The body without what differs between any two answers (request id, the second of retry_after, the ticket). */
function shape(reply: Reply): unknown {
  const { request_id: _id, retry_after: _wait, wait_ticket: ticket, ...rest } = reply.body.error;
  if (ticket !== undefined) rest.wait_ticket = typeof ticket;
  return { status: reply.status, error: rest, headers: [...reply.headers.keys()].sort() };
}

async function auditCount(server: TestServer, event: string, userId?: string): Promise<number> {
  let query = server.db.selectFrom("audit_log").select("id").where("event", "=", event);
  if (userId) query = query.where("user_id", "=", userId);
  return (await query.execute()).length;
}

function raceSuite(store: StoreKind, redis: boolean) {
  const clock = manualClock();
  /** Defaults: back-off after 5 failures per account, 50 per address. One server per budget it spends. */
  let oneAccount: TestServer;
  let spray: TestServer;
  /** Small limits (3 per account, 5 per address) to see what is given back. */
  let small: TestServer;
  /** Password throttles out of the way, so the 2FA counter is what stops a burst. */
  let mfa: TestServer;

  beforeAll(async () => {
    // The password throttles at the real argon2 cost: the race is between the slot taken and
    // the hash being checked. The 2FA server at the tests' cheap cost: there the race is
    // between the code's slot and the code check, and a cheap hash only lets the sign-ins
    // that carry a code reach that check closer together (and 80 sign-ins cost less).
    const start = (env: Record<string, string> = {}) =>
      startTestServer({
        store,
        redis,
        now: clock.now,
        env: { LATCHKEY_PASSWORD_HASH: "owasp", ...env },
      });
    [oneAccount, spray, small, mfa] = await Promise.all([
      start(),
      start(),
      start({ LATCHKEY_LOGIN_MAX_FAILURES: "3", LATCHKEY_LOGIN_MAX_FAILURES_IP: "5" }),
      start({
        LATCHKEY_LOGIN_MAX_FAILURES: "100000",
        LATCHKEY_LOGIN_MAX_FAILURES_IP: "100000",
        LATCHKEY_LOGIN_BACKOFF_AFTER: "100000",
        LATCHKEY_PASSWORD_HASH: "test",
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([oneAccount, spray, small, mfa].map((s) => s?.close()));
  });

  it(`${BURST} concurrent wrong passwords and 1 right one for one account: at most ${BACKOFF_AFTER + 1} evaluated, the rest 429 with a wait ticket`, async () => {
    const api = client(oneAccount.url);
    const user = await signupAndLogin(oneAccount.url, uniqueEmail("victim"));
    const replies = await Promise.all([
      ...Array.from({ length: BURST }, (_, i) =>
        api.post("/v1/auth/login", { email: user.email, password: `wrong-guess-number-${i}` }),
      ),
      api.post("/v1/auth/login", { email: user.email, password: PASSWORD }),
    ]);
    const counts = tally(replies);
    const evaluated = (counts.invalid_credentials ?? 0) + (counts["200"] ?? 0);
    console.info(`[${store}${redis ? "+redis" : ""}] one account, ${BURST}+1:`, counts);
    // The first five take the free slots, one more the account's back-off gate. Redis keeps
    // the gate on real time, so a burst that outlasts the first wait (1 s) lets one more
    // through per wait; the limit for the account from one address (10) holds regardless.
    expect(evaluated, JSON.stringify(counts)).toBeLessThanOrEqual(
      redis ? PAIR_LIMIT : BACKOFF_AFTER + 1,
    );
    expect(evaluated).toBeGreaterThan(0);
    // Refused by the back-off (with a wait ticket, at most 10 for one address) or, while
    // more than 10 from this address are in flight, by the account-and-address limit.
    const refusedKnown = expectRefusedAlike(
      replies,
      new Set(["invalid_credentials", "200"]),
      THROTTLED,
    );
    expect(refusedKnown).toHaveLength(replies.length - evaluated);
    const tickets = refusedKnown.filter((r) => r.body.error.wait_ticket !== undefined);
    expect(tickets.length).toBeGreaterThan(0);
    expect(tickets.length).toBeLessThanOrEqual(10);
    for (const reply of tickets) expect(reply.body.error.code).toBe("rate_limited");
    // Each evaluated wrong password is audited; nothing else was looked at.
    expect(await auditCount(oneAccount, "login_failed", user.userId)).toBe(
      counts.invalid_credentials ?? 0,
    );
    // An unknown email under the same burst is refused the same way, in the same words.
    const ghost = uniqueEmail("ghost");
    const ghostReplies = await Promise.all(
      Array.from({ length: BURST + 1 }, (_, i) =>
        api.post("/v1/auth/login", { email: ghost, password: `wrong-guess-number-${i}` }),
      ),
    );
    const ghostCounts = tally(ghostReplies);
    expect(ghostCounts.invalid_credentials ?? 0, JSON.stringify(ghostCounts)).toBeLessThanOrEqual(
      redis ? PAIR_LIMIT : BACKOFF_AFTER + 1,
    );
    const refused = expectRefusedAlike(ghostReplies, new Set(["invalid_credentials"]), THROTTLED);
    // Which refusals a burst meets depends on timing (under load more of it arrives after the
    // first wait); each kind the known account met, the unknown email meets in the same shape.
    const knownShapes = refusedKnown.map((r) => JSON.stringify(shape(r)));
    const knownCodes = new Set(refusedKnown.map((r) => r.body.error.code as string));
    for (const reply of refused)
      if (knownCodes.has(reply.body.error.code))
        expect(knownShapes).toContain(JSON.stringify(shape(reply)));
  });

  it(`a burst across 60 accounts from one address: at most ${IP_LIMIT} evaluated, the rest 429`, async () => {
    const api = client(spray.url);
    // Ten real accounts among fifty unknown emails; every password wrong.
    const real = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const email = uniqueEmail(`real${i}`);
        expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
        return email;
      }),
    );
    const emails = [...real, ...Array.from({ length: 50 }, (_, i) => uniqueEmail(`spray${i}`))];
    const replies = await Promise.all(
      emails.map((email) => api.post("/v1/auth/login", { email, password: "Summer2026!!" })),
    );
    const counts = tally(replies);
    console.info(`[${store}${redis ? "+redis" : ""}] 60 accounts, one address:`, counts);
    expect(counts.invalid_credentials ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(IP_LIMIT);
    expect(counts.invalid_credentials ?? 0).toBeGreaterThan(0);
    const refused = expectRefusedAlike(replies, new Set(["invalid_credentials"]));
    expect(refused).toHaveLength(emails.length - (counts.invalid_credentials ?? 0));
    // Refused alike whether the email has an account or not.
    for (const reply of refused) expect(shape(reply)).toEqual(shape(refused[0]!));
    expect(await auditCount(spray, "login_failed")).toBe(counts.invalid_credentials ?? 0);
  });

  it("gives back a refused reservation and a successful sign-in's address slot (3 per account, 5 per address)", async () => {
    const api = client(small.url);
    const [a, b] = await Promise.all([
      signupAndLogin(small.url, uniqueEmail("a")),
      signupAndLogin(small.url, uniqueEmail("b")),
    ]);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.post("/v1/auth/login", { email: a.email, password: `wrong-guess-number-${i}` }),
      ),
    );
    const counts = tally(replies);
    console.info(`[${store}${redis ? "+redis" : ""}] limits 3/5, 20 at once:`, counts);
    expect(counts.invalid_credentials ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(3);
    expectRefusedAlike(replies, new Set(["invalid_credentials"]));
    const failures = counts.invalid_credentials ?? 0;
    // The 429s were not evaluated, so they do not count against the address: B still signs in.
    for (let i = 0; i < 6; i++)
      expect(
        (await api.post("/v1/auth/login", { email: b.email, password: PASSWORD })).status,
      ).toBe(200);
    // Only failures hold the address's slots: 5 − failures more, then the address waits.
    for (let i = failures; i < 5; i++)
      expect(
        (await api.post("/v1/auth/login", { email: b.email, password: `wrong-${i}-guess` })).body
          .error.code,
      ).toBe("invalid_credentials");
    const blocked = await api.post("/v1/auth/login", { email: b.email, password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("too_many_attempts");
  });

  describe("second factor", () => {
    /** A user with 2FA on (and a session from before), the clock past the enabling step. */
    async function enrolled() {
      const user = await signupAndLogin(mfa.url, uniqueEmail("otp"));
      const factor = await enableTwoFactor(mfa.url, user.accessToken, clock.now());
      clock.advance(30_000);
      return { ...user, ...factor };
    }

    const wrongCode = (secret: string) => {
      const right = totpAt(secret, clock.now());
      const wrong = totpAt(secret, clock.now() + 40 * 30_000);
      return wrong === right ? (right === "000000" ? "111111" : "000000") : wrong;
    };

    async function mfaToken(email: string): Promise<string> {
      const reply = await client(mfa.url).post("/v1/auth/login", { email, password: PASSWORD });
      expect(reply.body.error.code).toBe("mfa_required");
      return reply.body.error.mfa_token as string;
    }

    async function expectLocked(user: Awaited<ReturnType<typeof enrolled>>, label: string) {
      const api = client(mfa.url);
      const right = totpAt(user.secret, clock.now());
      const paused = await api.post("/v1/auth/login/mfa", {
        mfa_token: await mfaToken(user.email),
        code: right,
      });
      expect(paused.status, label).toBe(429);
      expect(paused.body.error.code).toBe("too_many_attempts");
      expect(paused.body.error.retry_after).toBeGreaterThan(14 * 60);
      const inBody = await api.post("/v1/auth/login", {
        email: user.email,
        password: PASSWORD,
        code: right,
      });
      expectError(inBody, 429, "too_many_attempts");
      expect(await auditCount(mfa, "2fa_locked", user.userId)).toBe(1);
    }

    it(`${BURST} concurrent wrong codes at /login/mfa with distinct mfa tokens: at most ${CODE_LIMIT} evaluated`, async () => {
      const user = await enrolled();
      const tokens = await Promise.all(Array.from({ length: BURST }, () => mfaToken(user.email)));
      const wrong = wrongCode(user.secret);
      const api = client(mfa.url);
      const replies = await Promise.all(
        tokens.map((token, i) =>
          api.post(
            "/v1/auth/login/mfa",
            i % 4 === 3
              ? { mfa_token: token, backup_code: "zzzz-zzzz-zzzz" }
              : { mfa_token: token, code: wrong },
          ),
        ),
      );
      const counts = tally(replies);
      console.info(`[${store}${redis ? "+redis" : ""}] /login/mfa, ${BURST} wrong:`, counts);
      expect(counts.invalid_mfa_code ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(CODE_LIMIT);
      expect(counts.invalid_mfa_code ?? 0).toBeGreaterThan(0);
      expectRefusedAlike(replies, new Set(["invalid_mfa_code"]));
      expect(await auditCount(mfa, "2fa_failed_code", user.userId)).toBe(counts.invalid_mfa_code);
      await expectLocked(user, "the right code after the burst");
    });

    // The same gate through the login body. The password hash pool still takes these one
    // at a time, but at the tests' cost each hash is short, so the codes arrive nearly
    // together; the /login/mfa case above is the race without any hash in front.
    it(`${BURST} concurrent sign-ins with the password and a wrong code: at most ${CODE_LIMIT} codes evaluated`, async () => {
      const user = await enrolled();
      const wrong = wrongCode(user.secret);
      const api = client(mfa.url);
      const replies = await Promise.all(
        Array.from({ length: BURST }, () =>
          api.post("/v1/auth/login", { email: user.email, password: PASSWORD, code: wrong }),
        ),
      );
      const counts = tally(replies);
      console.info(`[${store}${redis ? "+redis" : ""}] login with code, ${BURST} wrong:`, counts);
      expect(counts.invalid_mfa_code ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(CODE_LIMIT);
      expect(counts.invalid_mfa_code ?? 0).toBeGreaterThan(0);
      expectRefusedAlike(replies, new Set(["invalid_mfa_code"]));
      expect(await auditCount(mfa, "2fa_failed_code", user.userId)).toBe(counts.invalid_mfa_code);
      await expectLocked(user, "the right code after the burst");
    });

    it(`${BURST} concurrent wrong codes to disable 2FA or regenerate backup codes: at most ${CODE_LIMIT} evaluated`, async () => {
      const user = await enrolled();
      const wrong = wrongCode(user.secret);
      const api = client(mfa.url);
      const replies = await Promise.all(
        Array.from({ length: BURST }, (_, i) =>
          api.post(
            i % 2 ? "/v1/auth/2fa/disable" : "/v1/auth/2fa/backup-codes",
            { code: wrong },
            { token: user.accessToken },
          ),
        ),
      );
      const counts = tally(replies);
      console.info(
        `[${store}${redis ? "+redis" : ""}] disable/backup-codes, ${BURST} wrong:`,
        counts,
      );
      expect(counts.invalid_mfa_code ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(CODE_LIMIT);
      expect(counts.invalid_mfa_code ?? 0).toBeGreaterThan(0);
      expectRefusedAlike(replies, new Set(["invalid_mfa_code"]));
      const disable = await api.post(
        "/v1/auth/2fa/disable",
        { code: totpAt(user.secret, clock.now()) },
        { token: user.accessToken },
      );
      expectError(disable, 429, "too_many_attempts");
      const status = await api.get("/v1/auth/2fa/status", { token: user.accessToken });
      expect(status.body.enabled).toBe(true);
      await expectLocked(user, "the right code after the burst");
    });
  });
}

describeEachStore("login throttle and 2FA lockout under a burst", (store) =>
  raceSuite(store, false),
);

describe.skipIf(!hasRedis())(
  `with the Redis limiter${hasRedis() ? "" : " (skipped: TEST_REDIS_URL is not set)"}`,
  () => {
    describeEachStore("login throttle and 2FA lockout under a burst, Redis", (store) =>
      raceSuite(store, true),
    );
  },
);
