/**
 * The mail outbox across crashes and shutdowns (SPEC §9): a message committed with what
 * caused it is delivered once, whether the process dies before sending, dies in the middle
 * of sending, or stops gracefully; failed sends retry with backoff.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { openDb } from "../../src/store/db.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { describeEachStore, freshPostgres, type StoreKind } from "../helpers/stores.js";
import { testClock } from "../http/twofa-support.js";
import { startChild, stopChild } from "./child.js";

const LEASE_MS = 5 * 60_000;

describeEachStore("mail outbox durability", (store: StoreKind) => {
  let inbox: Inbox;
  let dataDir: string;
  let databaseUrl: string;
  let drop: (() => Promise<void>) | null;
  const servers: TestServer[] = [];

  beforeEach(async () => {
    inbox = await startSmtp();
    dataDir = mkdtempSync(join(tmpdir(), "latchkey-outbox-"));
    drop = null;
    databaseUrl = join(dataDir, "latchkey.db");
    if (store === "postgres") {
      const pg = await freshPostgres();
      databaseUrl = pg.url;
      drop = pg.drop;
    }
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    await inbox.close();
    if (drop) await drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A server on the shared database and data dir (so the same master key opens the mail). */
  async function start(now?: () => number, env: Record<string, string> = {}) {
    const server = await startTestServer({
      databaseUrl,
      now,
      env: {
        LATCHKEY_DATA_DIR: dataDir,
        SMTP_URL: inbox.url,
        LATCHKEY_MAIL_POLL_MS: "50",
        ...env,
      },
    });
    servers.push(server);
    return server;
  }

  async function stop(server: TestServer) {
    servers.splice(servers.indexOf(server), 1);
    await server.stop();
  }

  const outboxRows = (server: TestServer) =>
    server.db.selectFrom("mail_outbox").selectAll().execute();

  it("delivers once a message committed just before a crash, with two senders racing", async () => {
    const first = await start();
    // The sender is gone before the signup commits: the state a crash between commit and
    // send leaves behind (a row committed, never claimed).
    await first.services.mailOutbox.close();
    const email = uniqueEmail("crash");
    const signup = await client(first.url).post("/v1/auth/signup", { email, password: PASSWORD });
    expect(signup.status).toBe(201);
    await stop(first);
    expect(inbox.to(email)).toHaveLength(0);

    // Two instances come up on the same database; each sender claims what is due.
    const [a] = await Promise.all([start(), start()]);
    const mail = await inbox.waitFor(email, /confirm/i);
    await new Promise((r) => setTimeout(r, 500));
    expect(inbox.to(email)).toHaveLength(1);
    const verify = await client(a.url).post("/v1/auth/email/verify", { token: tokenIn(mail) });
    expect(verify.status).toBe(200);
    const [row] = await outboxRows(a);
    expect(row).toMatchObject({ attempts: 1, payload: "", lease_until: null });
    expect(row!.sent_at).not.toBeNull();
  });

  it("resends, once, a message whose sender was killed in the middle of sending", async () => {
    inbox.holdNext(1);
    const env: Record<string, string | undefined> = {
      PORT: "0",
      HOST: "127.0.0.1",
      LATCHKEY_DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      SMTP_URL: inbox.url,
      LOG_LEVEL: "silent",
      NODE_ENV: "test",
      LATCHKEY_PASSWORD_HASH: "test",
      REDIS_URL: undefined,
    };
    const child = await startChild(env);
    const email = uniqueEmail("killed");
    const signup = await client(child.url).post("/v1/auth/signup", { email, password: PASSWORD });
    expect(signup.status).toBe(201);
    await expect.poll(() => inbox.held(), { timeout: 10_000 }).toBe(1);
    await stopChild(child, "SIGKILL");
    expect(inbox.to(email)).toHaveLength(0);

    // Restarted within the lease: the message is held by the dead sender, not sent twice…
    const clock = testClock();
    clock.ms = Date.now();
    const restarted = await start(clock.now);
    await new Promise((r) => setTimeout(r, 300));
    expect(inbox.to(email)).toHaveLength(0);
    // …and once the lease has run out, it goes, once.
    clock.advance(LEASE_MS + 1_000);
    await inbox.waitFor(email, /confirm/i);
    await new Promise((r) => setTimeout(r, 300));
    expect(inbox.to(email)).toHaveLength(1);
    const [row] = await outboxRows(restarted);
    expect(row).toMatchObject({ attempts: 2, payload: "" });
  });

  it("retries a refused send with backoff, and drains what is due on graceful shutdown", async () => {
    const clock = testClock();
    clock.ms = Date.now();
    // Polling hourly: only a wake-up (a new message) or the shutdown's drain sends.
    const server = await start(clock.now, { LATCHKEY_MAIL_POLL_MS: "3600000" });
    inbox.refuseNext(1);
    const email = uniqueEmail("retry");
    const signup = await client(server.url).post("/v1/auth/signup", { email, password: PASSWORD });
    expect(signup.status).toBe(201);
    await expect.poll(async () => (await outboxRows(server))[0]?.last_error ?? null).not.toBeNull();
    const [failed] = await outboxRows(server);
    expect(failed).toMatchObject({ attempts: 1, sent_at: null, lease_until: null });
    // The first retry waits 15 s.
    expect(failed!.next_attempt_at).toBe(clock.ms + 15_000);
    expect(failed!.payload).not.toBe("");

    clock.advance(15_000);
    expect(inbox.to(email)).toHaveLength(0);
    await stop(server);
    expect(inbox.to(email)).toHaveLength(1);
    const reopened = openDb(databaseUrl);
    try {
      const rows = await reopened.db.selectFrom("mail_outbox").selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ attempts: 2, payload: "", lease_until: null });
      expect(rows[0]!.sent_at).not.toBeNull();
    } finally {
      await reopened.close();
    }
  });
});
