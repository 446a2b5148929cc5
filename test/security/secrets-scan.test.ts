/**
 * A whole flow against the real server with LOG_LEVEL=debug — signup, login, 2FA enable,
 * login with a code and with a backup code, backup-code regeneration, API key create, use,
 * verify, rotate and revoke, refresh and refresh reuse, 2FA disable — then a scan of every
 * log line, every error body, every row of every table and the raw database files for the
 * secrets that were used. None may appear in clear.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatKey } from "../../src/core/key-format.js";
import { sha256 } from "../../src/infra/secrets.js";
import { openDb } from "../../src/store/db.js";
import { call, uniqueEmail } from "../helpers/http.js";
import { describeEachStore, freshPostgres } from "../helpers/stores.js";
import { startChild, stopChild, type Child } from "../reliability/child.js";
import { totpAt } from "./support.js";

const TABLES = [
  "users",
  "sessions",
  "refresh_tokens",
  "totp_factors",
  "backup_codes",
  "mfa_tokens",
  "projects",
  "api_keys",
  "key_usage",
  "key_activity",
  "audit_log",
  "account_tokens",
  "mail_outbox",
] as const;

const STEP = 30_000;

/** Sleeps until at least 4 s remain in the current TOTP step, so t-1, t, t+1 stay valid. */
async function awayFromStepEdge(): Promise<void> {
  const left = STEP - (Date.now() % STEP);
  if (left < 4_000) await new Promise((r) => setTimeout(r, left + 200));
}

describeEachStore("no secret in clear in logs, error bodies or the database", (store) => {
  let dataDir: string;
  let drop: (() => Promise<void>) | null = null;
  let child: Child | null = null;
  let location: string;
  const secrets = new Map<string, string>();
  const errorBodies: string[] = [];

  function remember(label: string, value: unknown) {
    if (typeof value !== "string" || value.length < 8)
      throw new Error(`flow did not yield ${label}: ${String(value)}`);
    secrets.set(`${label} #${secrets.size}`, value);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "latchkey-secrets-"));
    location = join(dataDir, "latchkey.db");
    const env: Record<string, string | undefined> = {
      PORT: "0",
      HOST: "127.0.0.1",
      LATCHKEY_DATA_DIR: dataDir,
      LOG_LEVEL: "debug",
      LATCHKEY_USAGE_FLUSH_MS: "50",
      // A webhook endpoint on this machine (its deliveries fail and are logged as such).
      LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true",
      // Cheap password hashes (test runs only): still argon2id hashes, scanned like any row.
      NODE_ENV: "test",
      LATCHKEY_PASSWORD_HASH: "test",
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
    };
    if (store === "postgres") {
      const pg = await freshPostgres();
      env.DATABASE_URL = pg.url;
      location = pg.url;
      drop = pg.drop;
    }
    child = await startChild(env);
  });
  afterAll(async () => {
    if (child) await stopChild(child, "SIGKILL");
    if (drop) await drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function send(method: string, path: string, body?: unknown, token?: string) {
    const reply = await call(child!.url, method, path, { body, token });
    if (reply.status >= 400) errorBodies.push(JSON.stringify(reply.body));
    return reply;
  }

  it("runs the whole flow", async () => {
    const email = uniqueEmail("scan");
    const password = "scan-Passphrase-7f3a9c1e";
    remember("password", password);
    expect((await send("POST", "/v1/auth/signup", { email, password })).status).toBe(201);
    // A wrong password and a near-miss: their error bodies are scanned too.
    await send("POST", "/v1/auth/login", { email, password: password + "x" });
    const login = await send("POST", "/v1/auth/login", { email, password });
    expect(login.status).toBe(200);
    remember("access token", login.body.access_token);
    remember("refresh token", login.body.refresh_token);
    let access = login.body.access_token as string;

    await awayFromStepEdge();
    const setup = await send("POST", "/v1/auth/2fa/setup", undefined, access);
    expect(setup.status).toBe(200);
    const secret = setup.body.secret as string;
    remember("TOTP secret", secret);
    const now = Date.now();
    const enabled = await send(
      "POST",
      "/v1/auth/2fa/verify",
      { code: totpAt(secret, now - STEP) },
      access,
    );
    expect(enabled.status).toBe(200);
    const backupCodes = enabled.body.backup_codes as string[];
    for (const code of backupCodes) remember("backup code", code);

    const challenged = await send("POST", "/v1/auth/login", { email, password });
    expect(challenged.body.error.code).toBe("mfa_required");
    const mfaToken = challenged.body.error.mfa_token as string;
    remember("mfa token", mfaToken);
    errorBodies.pop(); // the one error body that carries a secret by design (SPEC §2)
    await send("POST", "/v1/auth/login/mfa", { mfa_token: mfaToken, code: "000000" });
    const second = await send("POST", "/v1/auth/login/mfa", {
      mfa_token: mfaToken,
      code: totpAt(secret, now),
    });
    expect(second.status).toBe(200);
    remember("access token", second.body.access_token);
    remember("refresh token", second.body.refresh_token);
    access = second.body.access_token;

    const withBackup = await send("POST", "/v1/auth/login", {
      email,
      password,
      backup_code: backupCodes[0],
    });
    expect(withBackup.status).toBe(200);
    remember("access token", withBackup.body.access_token);
    remember("refresh token", withBackup.body.refresh_token);
    // The used backup code again: refused, and its error body scanned.
    await send("POST", "/v1/auth/login", { email, password, backup_code: backupCodes[0] });

    const regenerated = await send(
      "POST",
      "/v1/auth/2fa/backup-codes",
      { code: totpAt(secret, now + STEP) },
      access,
    );
    expect(regenerated.status).toBe(200);
    for (const code of regenerated.body.backup_codes as string[]) remember("backup code", code);

    const created = await send(
      "POST",
      "/v1/api-keys",
      { name: "scan", scopes: ["keys:verify", "keys:read", "services:read"] },
      access,
    );
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    remember("API key", key);
    expect((await send("GET", "/v1/auth/whoami", undefined, key)).status).toBe(200);
    const verified = await send("POST", "/v1/keys/verify", { key, scopes: ["services:read"] }, key);
    expect(verified.body.valid).toBe(true);
    const rotated = await send("POST", `/v1/api-keys/${created.body.id}/rotate`, {}, access);
    expect(rotated.status).toBe(201);
    remember("API key", rotated.body.key);
    expect(
      (await send("DELETE", `/v1/api-keys/${created.body.id}`, undefined, access)).status,
    ).toBe(200);
    await send("GET", "/v1/auth/whoami", undefined, key); // key_revoked
    await send("POST", "/v1/keys/verify", { key }, rotated.body.key);
    await send("GET", `/v1/api-keys/${key}`, undefined, access); // a secret where an id goes

    // A webhook endpoint: its signing secret is shown once (creation, rotation), kept sealed,
    // and never in a log line — not even those of its failed deliveries.
    const hook = await send(
      "POST",
      "/v1/webhooks",
      { url: "http://127.0.0.1:9/hooks", events: ["key.created", "key.leaked"] },
      access,
    );
    expect(hook.status).toBe(201);
    remember("webhook secret", hook.body.secret);
    remember("webhook secret", String(hook.body.secret).slice("whsec_".length));
    const rotatedHook = await send(
      "POST",
      `/v1/webhooks/${hook.body.id}/rotate-secret`,
      {},
      access,
    );
    expect(rotatedHook.status).toBe(200);
    remember("webhook secret", rotatedHook.body.secret);
    expect((await send("POST", `/v1/webhooks/${hook.body.id}/test`, {}, access)).status).toBe(202);

    // A leak report, anonymous: neither the real key it revokes nor an unknown one is kept.
    const leaked = await send(
      "POST",
      "/v1/api-keys",
      { name: "leaked", scopes: ["services:read"] },
      access,
    );
    expect(leaked.status).toBe(201);
    remember("API key", leaked.body.key);
    const unknown = formatKey("lk", "live", randomBytes(32));
    remember("reported key", unknown);
    const reported = await send("POST", "/v1/keys/leaks", {
      keys: [{ key: leaked.body.key, url: "https://paste.example/1" }, { key: unknown }],
    });
    expect(reported.status).toBe(202);
    await send("POST", "/v1/keys/leaks", { keys: [{ key: unknown, url: "not a url" }] }); // 400
    expect((await send("GET", "/v1/auth/whoami", undefined, leaked.body.key)).status).toBe(401);

    const refreshed = await send("POST", "/v1/auth/refresh", {
      refresh_token: second.body.refresh_token,
    });
    expect(refreshed.status).toBe(200);
    remember("access token", refreshed.body.access_token);
    remember("refresh token", refreshed.body.refresh_token);
    const reused = await send("POST", "/v1/auth/refresh", {
      refresh_token: second.body.refresh_token,
    });
    expect(reused.body.error.code).toBe("refresh_token_reused");

    // Regenerating the codes ended the other sessions (withBackup's), and the reuse above the
    // refreshed family: a new sign-in with one of the new codes, to turn 2FA off.
    const last = await send("POST", "/v1/auth/login", {
      email,
      password,
      backup_code: (regenerated.body.backup_codes as string[])[1],
    });
    expect(last.status).toBe(200);
    remember("access token", last.body.access_token);
    remember("refresh token", last.body.refresh_token);
    const disabled = await send(
      "POST",
      "/v1/auth/2fa/disable",
      { code: (regenerated.body.backup_codes as string[])[0] },
      last.body.access_token,
    );
    expect(disabled.status).toBe(200);
    // No wait for the usage buffer: the SIGTERM below flushes it before the scan (the
    // shutdown flush is tested in test/http/api-keys-usage.test.ts), and key_usage is checked
    // to hold rows before it is scanned.
  });

  it("finds none of them in the logs, the error bodies, the rows or the database files", async () => {
    expect(secrets.size).toBeGreaterThan(25);
    await stopChild(child!, "SIGTERM");
    const logs = child!.output();
    child = null;
    expect(logs).toMatch(/"level":20/); // debug lines were written
    expect(logs).toContain('"route":"/v1/api-keys"');

    const db = openDb(location);
    const rows: Record<string, string> = {};
    try {
      for (const table of TABLES)
        rows[table] = JSON.stringify(await db.db.selectFrom(table).selectAll().execute());
      const stored = JSON.parse(rows.api_keys!) as { key_hash: string }[];
      // What is there instead: hashes.
      for (const [label, value] of secrets) {
        if (label.startsWith("API key"))
          expect(stored.map((k) => k.key_hash)).toContain(sha256(value));
      }
      expect(rows.users).toContain("$argon2id$");
      // The usage counted during the flow reached the database (the shutdown flush) and is scanned.
      expect(JSON.parse(rows.key_usage!)).not.toHaveLength(0);
    } finally {
      await db.close();
    }

    const places: [string, string][] = [
      ["log", logs],
      ["error bodies", errorBodies.join("\n")],
      ...Object.entries(rows).map(([table, text]): [string, string] => [`table ${table}`, text]),
    ];
    if (store === "sqlite") {
      for (const file of readdirSync(dataDir).filter((f) => f.startsWith("latchkey.db")))
        places.push([`file ${file}`, readFileSync(join(dataDir, file)).toString("latin1")]);
    }
    for (const [label, value] of secrets) {
      const forms = new Set([value, value.toLowerCase(), value.replace(/-/g, "")]);
      // A JWT's signature alone is as good as the token for replay detection purposes.
      if (label.startsWith("access token")) forms.add(value.split(".")[2]!);
      for (const [place, text] of places) {
        for (const form of forms) {
          expect(text.includes(form), `${label} found in ${place}`).toBe(false);
        }
      }
    }
  });
});
