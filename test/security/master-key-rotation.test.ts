/**
 * Master-key rotation without downtime (issue 18 item 1), on SQLite and PostgreSQL: a real
 * server keeps signing users in with their TOTP codes while their secrets are re-sealed
 * under a new key by a second connection (as `latchkey admin rotate-master-key` does), then
 * the old key is retired with the real CLI once nothing needs it.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { addKeyFile, fileRing } from "../../src/infra/master-keys.js";
import { SecretBox } from "../../src/infra/secret-box.js";
import { startServer, type RunningServer } from "../../src/main.js";
import { countHoldings, reencrypt } from "../../src/services/master-keys/rotation.js";
import { openDb, type Db } from "../../src/store/db.js";
import { traitsOf } from "../../src/store/engines.js";
import { KyselyStore } from "../../src/store/kysely/index.js";
import { authenticatorCode, enableTwoFactor, testClock } from "../http/twofa-support.js";
import { client, PASSWORD, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

const USERS = 9;
const MAIL_ID = "msg_rotation_pending";
const MAIL = { to: "ada@example.test", subject: "Verify", text: "a one-time link" };

interface Enrolled {
  email: string;
  userId: string;
  secret: string;
  backupCodes: string[];
  accessToken: string;
}

function cli(server: TestServer, ...args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LATCHKEY_DATA_DIR: server.dataDir,
    LATCHKEY_MASTER_KEY: "",
    LATCHKEY_MASTER_KEYS: "",
    LOG_LEVEL: "silent",
  };
  if (server.config.database.startsWith("postgres")) env.DATABASE_URL = server.config.database;
  else delete env.DATABASE_URL;
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, ["bin/latchkey.js", ...args], { env }, (error, stdout, stderr) =>
      done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describeEachStore("master-key rotation while the server serves", (store) => {
  let server: TestServer;
  let restarted: RunningServer | null = null;
  let second: Db;
  const clock = testClock();
  const users: Enrolled[] = [];

  beforeAll(async () => {
    server = await startTestServer({ store, now: clock.now });
    for (let i = 0; i < USERS; i += 1) {
      const user = await signupAndLogin(server.url);
      const factor = await enableTwoFactor(server.url, user.accessToken, clock.ms);
      users.push({ ...user, ...factor });
    }
    clock.steps();
    // A message still waiting in the outbox (due far in the future), sealed as the server seals.
    await server.deps.store.mail.insert({
      id: MAIL_ID,
      kind: "verify_email",
      payload: server.deps.box.seal(JSON.stringify(MAIL), `mail:${MAIL_ID}`),
      created_at: clock.ms,
      next_attempt_at: clock.ms + 86_400_000,
      attempts: 0,
      lease_until: null,
      sent_at: null,
      failed_at: null,
      last_error: null,
    });
    // The rotation's own connection, as the CLI opens it.
    second = openDb(server.config.database, { poolSize: 2 });
  });
  afterAll(async () => {
    await second?.close();
    await restarted?.stop();
    await server?.close();
  });

  const api = () => client(restarted?.url ?? server.url);

  /** Password, then the current TOTP code: the two-step sign-in; the reply of the second step. */
  async function signIn(user: Enrolled) {
    const first = await api().post("/v1/auth/login", { email: user.email, password: PASSWORD });
    if (first.status !== 401) return first;
    const second = await api().post("/v1/auth/login/mfa", {
      mfa_token: first.body.error.mfa_token,
      code: authenticatorCode(user.secret, clock.ms),
    });
    if (second.status === 200) user.accessToken = second.body.access_token;
    return second;
  }

  const totpRows = () =>
    server.db.selectFrom("totp_factors").select(["user_id", "secret_ciphertext"]).execute();

  it("re-seals every TOTP secret and pending mail under the new key; every sign-in meanwhile succeeds", async () => {
    const oldId = server.deps.box.sealingKeyId;
    // A webhook endpoint's signing secret is sealed too.
    const hookId = `whe_rotation_${store}`;
    await server.deps.store.webhooks.insertEndpoint({
      id: hookId,
      owner_id: users[0]!.userId,
      url: "https://hooks.example.com/x",
      description: null,
      events: '["key.created"]',
      secret_sealed: server.deps.box.seal("whsec_c2VjcmV0", `webhook:${hookId}`),
      enabled: 1,
      disabled_reason: null,
      failing_since: null,
      created_at: clock.ms,
      updated_at: clock.ms,
    });
    expect((await totpRows()).every((r) => r.secret_ciphertext.startsWith(`v2.${oldId}.`))).toBe(
      true,
    );

    // The sign-in loop: one round = every user signs in once, in a fresh time step.
    const statuses: number[] = [];
    let rounds = 0;
    let stop = false;
    let waiting: (() => void)[] = [];
    const loop = (async () => {
      while (!stop || waiting.length > 0) {
        clock.steps();
        const replies = await Promise.all(users.map((u) => signIn(u)));
        statuses.push(...replies.map((r) => r.status));
        rounds += 1;
        for (const wake of waiting) wake();
        waiting = [];
      }
    })();
    const nextRound = () => new Promise<void>((resolve) => waiting.push(resolve));

    // The rotation: a new key file, then batches of 2 rows, each followed by a round of sign-ins.
    const added = addKeyFile(fileRing(server.dataDir));
    const box = new SecretBox(fileRing(server.dataDir));
    expect(box.sealingKeyId).toBe(added.id);
    const rotation = new KyselyStore(second.db, traitsOf(second.engine), null);
    const report = await reencrypt(rotation, box, { batchSize: 2, onBatch: nextRound });
    stop = true;
    await loop;

    expect(report).toMatchObject({
      keyId: added.id,
      totp_secrets: USERS,
      pending_mail: 1,
      webhook_secrets: 1,
    });
    const hook = await server.deps.store.webhooks.endpoint(hookId);
    expect(hook!.secret_sealed.startsWith(`v2.${added.id}.`)).toBe(true);
    expect(server.deps.box.open(hook!.secret_sealed, `webhook:${hookId}`)).toBe("whsec_c2VjcmV0");
    expect(report.failed).toEqual([]);
    expect(rounds).toBeGreaterThanOrEqual(Math.ceil(USERS / 2) + 1);
    expect(statuses.length).toBe(rounds * USERS);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    // Every secret under the new key, still the user's; the pending mail too.
    const rows = await totpRows();
    expect(rows).toHaveLength(USERS);
    expect(rows.every((r) => r.secret_ciphertext.startsWith(`v2.${added.id}.`))).toBe(true);
    for (const user of users) {
      const row = rows.find((r) => r.user_id === user.userId)!;
      expect(box.open(row.secret_ciphertext, `totp:${user.userId}`)).toBe(user.secret);
    }
    const mail = await server.deps.store.sealed.notUnder("mail_payload", added.id, "", 10);
    expect(mail).toEqual([]);
    const pending = await server.db
      .selectFrom("mail_outbox")
      .select("payload")
      .where("id", "=", MAIL_ID)
      .executeTakeFirstOrThrow();
    expect(pending.payload.startsWith(`v2.${added.id}.`)).toBe(true);
    expect(JSON.parse(server.deps.box.open(pending.payload, `mail:${MAIL_ID}`))).toEqual(MAIL);
    // The server met a value under the new key and took the new ring: it seals with it now.
    expect(server.deps.box.sealingKeyId).toBe(added.id);

    // Nothing left to do: a second pass writes nothing.
    expect(await reencrypt(rotation, box)).toMatchObject({ totp_secrets: 0, pending_mail: 0 });
    const holdings = await countHoldings(rotation, box);
    expect(holdings.byKey.get(oldId)).toEqual({
      totp_secrets: 0,
      pending_mail: 0,
      webhook_secrets: 0,
      backup_codes: USERS * 10,
    });
  });

  it("old backup codes keep working; --retire refuses while any remain, succeeds once they are regenerated", async () => {
    const [oldId, newId] = [...server.deps.box.keyIds].reverse() as [string, string];
    // A backup code made under the old key signs in.
    const first = await api().post("/v1/auth/login", {
      email: users[0]!.email,
      password: PASSWORD,
    });
    const viaBackup = await api().post("/v1/auth/login/mfa", {
      mfa_token: first.body.error.mfa_token,
      backup_code: users[0]!.backupCodes[0],
    });
    expect(viaBackup.status).toBe(200);

    const refused = await cli(server, "admin", "rotate-master-key", "--retire", oldId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`cannot retire: master key ${oldId} is still needed by`);
    expect(refused.stderr).toContain(`${USERS * 10 - 1} unused backup code(s)`);
    expect(existsSync(join(server.dataDir, "master.key"))).toBe(true);

    // Each user regenerates (with an old backup code): the new set is MACed under the new key.
    clock.steps();
    for (const user of users) {
      await signIn(user);
      const reply = await api().post(
        "/v1/auth/2fa/backup-codes",
        { backup_code: user.backupCodes[1] },
        { token: user.accessToken },
      );
      expect(reply.status).toBe(200);
      user.backupCodes = reply.body.backup_codes;
    }
    const hashes = await server.db
      .selectFrom("backup_codes")
      .select("code_hash")
      .where("used_at", "is", null)
      .execute();
    expect(hashes).toHaveLength(USERS * 10);
    expect(hashes.every((h) => h.code_hash.startsWith(`v2.${newId}.`))).toBe(true);

    const status = await cli(server, "admin", "master-keys", "-o", "json");
    expect(status.code).toBe(0);
    const listed = JSON.parse(status.stdout);
    expect(listed.keys.map((k: { id: string }) => k.id)).toEqual([newId, oldId]);
    expect(listed.keys[1]).toMatchObject({ totp_secrets: 0, pending_mail: 0, backup_codes: 0 });
    expect(listed.keys[0]).toMatchObject({ seals: true, totp_secrets: USERS, pending_mail: 1 });

    const retired = await cli(server, "admin", "rotate-master-key", "--retire", oldId);
    expect(retired.stderr).toBe("");
    expect(retired.code).toBe(0);
    expect(retired.stdout).toContain(`Master key ${oldId} holds nothing any more`);
    expect(existsSync(join(server.dataDir, "master.key"))).toBe(false);
    expect(readFileSync(join(server.dataDir, "master.key.2"), "utf8").trim()).toHaveLength(44);

    // A restart on the ring without the old key: sign-ins and the new backup codes work.
    await server.stop();
    const env: Record<string, string> = {
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      NODE_ENV: "test",
      LATCHKEY_PASSWORD_HASH: "test",
      LATCHKEY_DATA_DIR: server.dataDir,
    };
    if (server.config.database.startsWith("postgres")) env.DATABASE_URL = server.config.database;
    restarted = await startServer(loadConfig(env), { now: clock.now });
    expect(restarted.deps.box.keyIds).toEqual([newId]);
    clock.steps();
    for (const user of users) expect((await signIn(user)).status).toBe(200);
    const again = await api().post("/v1/auth/login", {
      email: users[1]!.email,
      password: PASSWORD,
    });
    const withNewCode = await api().post("/v1/auth/login/mfa", {
      mfa_token: again.body.error.mfa_token,
      backup_code: users[1]!.backupCodes[0],
    });
    expect(withNewCode.status).toBe(200);
  });
});
