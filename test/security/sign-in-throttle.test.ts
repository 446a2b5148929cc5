/**
 * Sign-in throttling that slows without locking the owner out (ASVS 6.1.1, 6.3.1; NIST
 * 800-63B §5.2.2; SECURITY.md "Sign-in throttling"): an account's back-off answers 429
 * `rate_limited` with a signed, single-use wait ticket that gets its holder evaluated once the
 * wait has passed, however many others keep the back-off running; after 100 consecutive
 * failures password sign-in is suspended (kept in the database) until a passkey sign-in or a
 * reset; second-factor pauses grow. Over real HTTP, on SQLite and PostgreSQL, and on two
 * instances sharing Redis.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, signupAndLogin, uniqueEmail, type Reply } from "../helpers/http.js";
import { freshRedisPrefix, startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import {
  describeCluster,
  describeEachStore,
  freshPostgres,
  type StoreKind,
} from "../helpers/stores.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";
import { enableTwoFactor, expectSpecError, manualClock, totpAt } from "./support.js";

const OWNER = "198.51.100.7";
const attacker = (i: number) => `203.0.113.${(i % 200) + 1}`;
/** Behind one trusted proxy (LATCHKEY_TRUST_PROXY=1) the address is the X-Forwarded-For entry. */
const from = (address: string) => ({ headers: { "x-forwarded-for": address } });

function login(server: TestServer, body: Record<string, unknown>, address: string) {
  return client(server.url).post("/v1/auth/login", body, from(address));
}

function expectBackoff(reply: Reply): string {
  expectSpecError(reply.status, reply.body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(429);
  expect(reply.body.error.code).toBe("rate_limited");
  expect(reply.body.error.retry_after).toBeGreaterThan(0);
  expect(Number(reply.headers.get("retry-after"))).toBe(reply.body.error.retry_after);
  expect(reply.body.error.wait_ticket).toBeTypeOf("string");
  return reply.body.error.wait_ticket as string;
}

async function auditCount(server: TestServer, event: string, userId: string): Promise<number> {
  const rows = await server.db
    .selectFrom("audit_log")
    .select("id")
    .where("event", "=", event)
    .where("user_id", "=", userId)
    .execute();
  return rows.length;
}

describeEachStore("sign-in back-off with wait tickets", (store) => {
  const clock = manualClock();
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now, env: { LATCHKEY_TRUST_PROXY: "1" } });
  });
  afterAll(async () => server?.close());

  /** Wrong passwords from many addresses, none of them often enough to be refused itself. */
  async function hammer(email: string, count: number, offset = 0): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < count; i++)
      replies.push(
        await login(server, { email, password: `guess-${i}-xyz` }, attacker(offset + i)),
      );
    return replies;
  }

  it("attackers from many addresses keep the back-off running, yet the owner signs in with password and TOTP after the wait, with the ticket", async () => {
    const user = await signupAndLogin(server.url, uniqueEmail("owner"));
    const { secret } = await enableTwoFactor(server.url, user.accessToken, clock.now());
    clock.advance(30_000);
    const first = await hammer(user.email, 20);
    const codes = first.map((r) => r.body.error.code);
    expect(codes.slice(0, 6)).toEqual(Array(6).fill("invalid_credentials"));
    expect(codes.slice(6)).toEqual(Array(14).fill("rate_limited"));

    // The owner, inside the back-off: refused unevaluated, told how long, and given a ticket.
    const right = () => ({
      email: user.email,
      password: PASSWORD,
      code: totpAt(secret, clock.now()),
    });
    const refused = await login(server, right(), OWNER);
    const ticket = expectBackoff(refused);
    // Too early, the ticket is handed back with the time still to wait.
    const early = await login(server, { ...right(), wait_ticket: ticket }, OWNER);
    expect(expectBackoff(early)).toBe(ticket);

    clock.advance(refused.body.error.retry_after * 1_000);
    // The attackers are still at it: one of them takes the next turn, the rest wait again,
    // and so would the owner without the ticket.
    const next = await hammer(user.email, 3, 50);
    expect(next.map((r) => r.body.error.code)).toEqual([
      "invalid_credentials",
      "rate_limited",
      "rate_limited",
    ]);
    expectBackoff(await login(server, right(), OWNER));
    const signedIn = await login(server, { ...right(), wait_ticket: ticket }, OWNER);
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    expect(signedIn.body.access_token).toBeTypeOf("string");
    // The owner's success ended the back-off: the account starts afresh.
    const after = await hammer(user.email, 5, 100);
    expect(after.map((r) => r.body.error.code)).toEqual(Array(5).fill("invalid_credentials"));
  });

  it("a wait ticket is single use: of 6 concurrent attempts carrying it, one is evaluated", async () => {
    const user = await signupAndLogin(server.url, uniqueEmail("single"));
    await hammer(user.email, 6);
    const refused = await login(server, { email: user.email, password: "still-wrong-1" }, OWNER);
    const ticket = expectBackoff(refused);
    clock.advance(refused.body.error.retry_after * 1_000);
    await hammer(user.email, 1, 60); // someone else holds the account's next turn
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        login(
          server,
          { email: user.email, password: `wrong-${i}-again`, wait_ticket: ticket },
          OWNER,
        ),
      ),
    );
    const codes = replies.map((r) => r.body.error.code).sort();
    expect(codes).toEqual(["invalid_credentials", ...Array(5).fill("rate_limited")]);
    // Spent: the right password with it now waits like any other attempt.
    expectBackoff(
      await login(server, { email: user.email, password: PASSWORD, wait_ticket: ticket }, OWNER),
    );
  });

  it("a ticket is bound to its account and cannot be forged", async () => {
    const [a, b] = [
      await signupAndLogin(server.url, uniqueEmail("ta")),
      await signupAndLogin(server.url, uniqueEmail("tb")),
    ];
    await hammer(a.email, 6);
    await hammer(b.email, 6, 20);
    const refused = await login(server, { email: a.email, password: "nope-nope-1" }, OWNER);
    const ticket = expectBackoff(refused);
    expectBackoff(await login(server, { email: b.email, password: "nope-nope-2" }, OWNER));
    clock.advance(60_000);
    await hammer(b.email, 1, 70);
    await hammer(a.email, 1, 71);
    const forged = ticket.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    for (const [email, wait_ticket] of [
      [b.email, ticket],
      [a.email, forged],
    ] as const)
      expectBackoff(await login(server, { email, password: PASSWORD, wait_ticket }, OWNER));
    expect(
      (await login(server, { email: a.email, password: PASSWORD, wait_ticket: ticket }, OWNER))
        .status,
    ).toBe(200);
  });

  it("second-factor pauses grow: 15 minutes after 10 wrong codes, 30 after the next 10; a success starts afresh", async () => {
    const user = await signupAndLogin(server.url, uniqueEmail("otp"));
    const { secret } = await enableTwoFactor(server.url, user.accessToken, clock.now());
    clock.advance(30_000);
    const wrong = () => {
      const good = totpAt(secret, clock.now());
      return good === "000000" ? "111111" : "000000";
    };
    const tenWrong = async () => {
      for (let i = 0; i < 10; i++) {
        const reply = await login(
          server,
          { email: user.email, password: PASSWORD, code: wrong() },
          OWNER,
        );
        expect(reply.body.error.code).toBe("invalid_mfa_code");
      }
      const paused = await login(
        server,
        { email: user.email, password: PASSWORD, code: totpAt(secret, clock.now()) },
        OWNER,
      );
      expect(paused.body.error.code).toBe("too_many_attempts");
      return paused.body.error.retry_after as number;
    };
    const firstPause = await tenWrong();
    expect(firstPause).toBeGreaterThan(14 * 60);
    expect(firstPause).toBeLessThanOrEqual(15 * 60);
    clock.advance(firstPause * 1_000);
    const secondPause = await tenWrong();
    expect(secondPause).toBeGreaterThan(29 * 60);
    expect(secondPause).toBeLessThanOrEqual(30 * 60);
    clock.advance(secondPause * 1_000);
    const ok = await login(
      server,
      { email: user.email, password: PASSWORD, code: totpAt(secret, clock.now()) },
      OWNER,
    );
    expect(ok.status).toBe(200);
    clock.advance(30_000);
    expect(await tenWrong()).toBeLessThanOrEqual(15 * 60);
  });
});

/** Two servers, one after the other, on one database: a restart. */
function suspensionSuite(store: StoreKind) {
  let dataDir: string;
  let databaseUrl: string | undefined;
  let dropDatabase: (() => Promise<void>) | null = null;
  let inbox: Inbox;
  let server: TestServer;
  let origin: string;
  const env = () => ({
    LATCHKEY_DATA_DIR: dataDir,
    // Out of the way, so 100 failures are quick to reach: the cap is what is tested here.
    LATCHKEY_LOGIN_BACKOFF_AFTER: "100000",
    LATCHKEY_LOGIN_MAX_FAILURES: "100000",
    LATCHKEY_LOGIN_MAX_FAILURES_IP: "100000",
    SMTP_URL: inbox.url,
  });
  const start = async () => {
    server = await startTestServer({ store, env: env(), databaseUrl });
    origin = server.url.replace("127.0.0.1", "localhost");
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "latchkey-suspend-"));
    inbox = await startSmtp();
    if (store === "postgres") {
      const db = await freshPostgres();
      databaseUrl = db.url;
      dropDatabase = db.drop;
    }
    await start();
    await signupAndLogin(server.url); // the first account is staff: let it be someone else
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
    if (dropDatabase) await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function failHundredTimes(email: string) {
    for (let i = 0; i < 100; i++) {
      const reply = await client(server.url).post("/v1/auth/login", {
        email,
        password: `wrong-${i}-guess`,
      });
      expect(reply.body.error.code, `attempt ${i + 1}`).toBe("invalid_credentials");
    }
  }

  const signIn = (email: string) =>
    client(server.url).post("/v1/auth/login", { email, password: PASSWORD });

  function expectSuspended(reply: Reply) {
    expectSpecError(reply.status, reply.body);
    expect(reply.status).toBe(403);
    expect(reply.body.error.code).toBe("password_login_suspended");
  }

  it("suspends password sign-in after 100 failures, across a restart, until a passkey sign-in", async () => {
    const user = await signupAndLogin(server.url, uniqueEmail("capped"));
    const authenticator = new SoftAuthenticator(origin);
    const options = await client(server.url).post("/v1/auth/passkeys/register/options", undefined, {
      token: user.accessToken,
    });
    const registered = await client(server.url).post(
      "/v1/auth/passkeys/register",
      { credential: authenticator.register(options.body) },
      { token: user.accessToken },
    );
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);

    await failHundredTimes(user.email);
    const refused = await signIn(user.email);
    expectSuspended(refused);
    // An unknown email is suspended alike, in the same words.
    const ghost = uniqueEmail("ghost");
    await failHundredTimes(ghost);
    const ghostReply = await signIn(ghost);
    expectSuspended(ghostReply);
    expect(ghostReply.body.error.message).toBe(refused.body.error.message);
    expect(await auditCount(server, "password_login_suspended", user.userId)).toBe(1);
    const row = await server.db
      .selectFrom("login_failures")
      .select("failures")
      .where("email", "=", user.email)
      .executeTakeFirst();
    expect(row?.failures).toBe(100);

    await server.close();
    await start();
    expectSuspended(await signIn(user.email));
    authenticator.origin = origin; // the restarted server listens on another port

    const loginOptions = await client(server.url).post("/v1/auth/passkeys/login/options", {});
    const passkey = await client(server.url).post("/v1/auth/passkeys/login", {
      credential: authenticator.assert(loginOptions.body, { userVerified: true }),
    });
    expect(passkey.status, JSON.stringify(passkey.body)).toBe(200);
    expect((await signIn(user.email)).status).toBe(200);
  });

  it("a password reset lifts the suspension", async () => {
    const user = await signupAndLogin(server.url, uniqueEmail("reset"));
    await failHundredTimes(user.email);
    expectSuspended(await signIn(user.email));
    const api = client(server.url);
    expect((await api.post("/v1/auth/password/reset", { email: user.email })).status).toBe(202);
    const token = tokenIn(await inbox.waitFor(user.email, /reset your password/i));
    const fresh = "a-brand-new-passphrase-42";
    const done = await api.post("/v1/auth/password/reset/confirm", { token, new_password: fresh });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await api.post("/v1/auth/login", { email: user.email, password: fresh })).status).toBe(
      200,
    );
  });
}

describeEachStore("password sign-in suspension", (store) => suspensionSuite(store));

// Two instances behind one load balancer: the counts, the back-off and the tickets are shared.
describeCluster("sign-in back-off across two instances (PostgreSQL + Redis)", () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    const env = {
      LATCHKEY_TRUST_PROXY: "1",
      LATCHKEY_MASTER_KEY: randomBytes(32).toString("hex"),
      LATCHKEY_LOGIN_BACKOFF_AFTER: "3",
      LATCHKEY_LOGIN_BACKOFF_MAX: "1s",
    };
    const redis = freshRedisPrefix();
    a = await startTestServer({ store: "postgres", redis, env });
    b = await startTestServer({ redis, env, databaseUrl: a.config.database });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("shares failures and the back-off, honours a ticket from the other instance, and spends it once", async () => {
    const user = await signupAndLogin(a.url, uniqueEmail("cluster"));
    const wrong = (i: number) => ({ email: user.email, password: `cluster-guess-${i}` });
    const replies = [];
    for (const [i, server] of [a, b, a, b].entries())
      replies.push(await login(server, wrong(i), attacker(i)));
    expect(replies.map((r) => r.body.error.code)).toEqual(Array(4).fill("invalid_credentials"));
    const refused = await login(a, wrong(9), OWNER);
    const ticket = expectBackoff(refused);
    await sleep(refused.body.error.retry_after * 1_000 + 50);
    // Another attacker takes the turn; the ticket, used on both instances at once, admits one.
    await login(b, wrong(10), attacker(10));
    const both = await Promise.all(
      [a, b].map((server, i) => login(server, { ...wrong(20 + i), wait_ticket: ticket }, OWNER)),
    );
    expect(both.map((r) => r.body.error.code).sort()).toEqual([
      "invalid_credentials",
      "rate_limited",
    ]);
    // The owner waits once more (an attacker holds the turn) and signs in on the other
    // instance with the new ticket.
    await login(a, wrong(25), attacker(25));
    const again = await login(a, { email: user.email, password: PASSWORD }, OWNER);
    const second = expectBackoff(again);
    await sleep(again.body.error.retry_after * 1_000 + 50);
    await login(a, wrong(30), attacker(30));
    const ok = await login(
      b,
      { email: user.email, password: PASSWORD, wait_ticket: second },
      OWNER,
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe("sign-in throttle settings", () => {
  it("are in the config with their defaults", async () => {
    const { loadConfig } = await import("../../src/config.js");
    const config = loadConfig({});
    expect(config.login.backoffAfter).toBe(5);
    expect(config.login.backoffMaxMs).toBe(60_000);
  });
});
