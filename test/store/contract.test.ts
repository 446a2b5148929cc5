/**
 * The store port's contract: every method, against every engine (SQLite `:memory:` and,
 * with TEST_DATABASE_URL, a fresh PostgreSQL database), in the manner of Lucia's
 * `testAdapter()` and Kysely's per-dialect loop. A new engine (or a rewritten query)
 * passes this suite or is wrong.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openDb } from "../../src/store/db.js";
import { sql } from "kysely";
import { kyselyStore, type KyselyStore } from "../../src/store/kysely/index.js";
import { SqliteWorkerUsage } from "../../src/store/sqlite-usage-worker.js";
import {
  DuplicateError,
  type KeyRow,
  type RefreshTokenRow,
  type SessionRow,
  type Store,
  type UsageBatch,
  type UserRow,
} from "../../src/store/port.js";
import { describeEachStore, freshPostgres } from "../helpers/stores.js";
import { NO_LIMITS } from "../../src/services/keys/budget.js";

const T0 = Date.UTC(2026, 0, 1);
let serial = 0;
const uid = (prefix: string) => `${prefix}_${(serial += 1).toString(36)}_${Date.now() % 1e6}`;

function user(overrides: Partial<UserRow> = {}): UserRow {
  const id = uid("usr");
  return {
    id,
    email: `${id}@example.test`,
    password_hash: "hash",
    role: "owner",
    is_staff: 0,
    plan: "free",
    disabled: 0,
    is_service: 0,
    email_verified_at: null,
    leak_policy: "revoke",
    kind: "user",
    created_at: T0,
    updated_at: T0,
    ...overrides,
  };
}

function key(ownerId: string, overrides: Partial<KeyRow> = {}): KeyRow {
  const id = uid("key");
  return {
    id,
    owner_id: ownerId,
    name: "k",
    prefix: "lk_live_abcd",
    key_hash: `hash-${id}`,
    environment: "live",
    scopes: '["keys:read"]',
    project_id: null,
    ip_allow: null,
    created_at: T0,
    expires_at: null,
    revoked_at: null,
    last_used_at: null,
    usage_count: 0,
    rotated_from: null,
    parent_key_id: null,
    description: null,
    meta: null,
    disabled_at: null,
    leaked_at: null,
    leak_source: null,
    created_by: null,
    ...NO_LIMITS,
    ...overrides,
  };
}

function session(userId: string, overrides: Partial<SessionRow> = {}): SessionRow {
  return {
    id: uid("ses"),
    user_id: userId,
    amr: '["pwd"]',
    ip: "203.0.113.1",
    user_agent: "test",
    created_at: T0,
    last_used_at: T0,
    expires_at: T0 + 60_000,
    ended_at: null,
    end_reason: null,
    absolute_expires_at: T0 + 120_000,
    idle_ms: 60_000,
    auth_time: T0,
    ...overrides,
  };
}

/** The refresh token a session starts with, live for a minute from T0. */
function firstToken(s: SessionRow, tokenHash: string): RefreshTokenRow {
  return {
    token_hash: tokenHash,
    session_id: s.id,
    created_at: T0,
    expires_at: T0 + 60_000,
    spent_at: null,
  };
}

describeEachStore("store contract", (kind) => {
  let store: Store;
  let drop: (() => Promise<void>) | null = null;

  beforeAll(async () => {
    let location = ":memory:";
    if (kind === "postgres") {
      const pg = await freshPostgres();
      location = pg.url;
      drop = pg.drop;
    }
    const db = openDb(location);
    await migrate(db);
    store = kyselyStore(db);
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  async function newUser(overrides: Partial<UserRow> = {}): Promise<UserRow> {
    const row = user(overrides);
    await store.users.insert(row);
    return row;
  }

  // ---- the store itself ----

  it("names its engine and answers ping", async () => {
    expect(store.engine).toBe(kind);
    expect(await store.ping()).toBe(true);
  });

  it("transaction commits what fn wrote, and rolls all of it back when fn throws", async () => {
    const kept = user();
    const lost = user();
    await store.transaction(async (tx) => tx.users.insert(kept));
    await expect(
      store.transaction(async (tx) => {
        await tx.users.insert(lost);
        await tx.keys.insert(key(lost.id));
        expect(await tx.users.byId(lost.id)).toBeDefined(); // visible inside…
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await store.users.byId(kept.id)).toEqual(kept);
    expect(await store.users.byId(lost.id)).toBeUndefined(); // …gone after
    expect(await store.keys.listByOwner(lost.id)).toEqual([]);
  });

  it("a nested transaction is part of the outer one", async () => {
    const row = user();
    await expect(
      store.transaction(async (tx) => {
        await tx.transaction(async (inner) => inner.users.insert(row));
        throw new Error("outer fails");
      }),
    ).rejects.toThrow("outer fails");
    expect(await store.users.byId(row.id)).toBeUndefined();
  });

  it("a store method that is atomic on its own rolls back with the transaction it runs in", async () => {
    const owner = await newUser();
    const s = session(owner.id);
    await expect(
      store.transaction(async (tx) => {
        await tx.sessions.start(s, {
          token_hash: uid("rt"),
          session_id: s.id,
          created_at: T0,
          expires_at: T0 + 1,
          spent_at: null,
        });
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect(await store.sessions.liveness(s.id)).toBeUndefined();
  });

  // ---- users ----

  it("users: insert, read by id and email, any, list in creation order", async () => {
    expect(await store.users.byEmail("nobody@example.test")).toBeUndefined();
    const a = await newUser({ created_at: T0 + 1 });
    const b = await newUser({ created_at: T0 + 2 });
    expect(await store.users.any()).toBe(true);
    expect(await store.users.byId(a.id)).toEqual(a);
    expect(await store.users.byEmail(b.email)).toEqual(b);
    const all = await store.users.list({ limit: 1000, offset: 0 });
    const ids = all.map((u) => u.id);
    expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
    const page = await store.users.list({ limit: 1, offset: ids.indexOf(b.id) });
    expect(page.map((u) => u.id)).toEqual([b.id]);
  });

  it("users: a taken email is a DuplicateError, and nothing is written", async () => {
    const a = await newUser();
    const copy = user({ email: a.email });
    const error = await store.users.insert(copy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateError);
    expect(await store.users.byId(copy.id)).toBeUndefined();
  });

  it("users: update patches the named fields and says whether the user exists", async () => {
    const a = await newUser();
    expect(await store.users.update(a.id, { plan: "pro", disabled: 1, updated_at: T0 + 5 })).toBe(
      true,
    );
    expect(await store.users.byId(a.id)).toEqual({
      ...a,
      plan: "pro",
      disabled: 1,
      updated_at: T0 + 5,
    });
    expect(await store.users.update("usr_missing", { plan: "pro" })).toBe(false);
  });

  it("users: planForUpdate reads the plan, undefined for no user", async () => {
    const a = await newUser({ plan: "team" });
    expect(await store.transaction((tx) => tx.users.planForUpdate(a.id))).toBe("team");
    expect(await store.transaction((tx) => tx.users.planForUpdate("usr_none"))).toBeUndefined();
  });

  it("users: planForUpdate serialises racing check-then-insert transactions per owner", async () => {
    const owner = await newUser();
    const limit = 3;
    const attempts = await Promise.allSettled(
      Array.from({ length: 12 }, () =>
        store.transaction(async (tx) => {
          await tx.users.planForUpdate(owner.id);
          const active = await tx.keys.activeOf(owner.id, T0);
          if (active.length >= limit) throw new Error("limit");
          await tx.keys.insert(key(owner.id));
        }),
      ),
    );
    expect(attempts.filter((a) => a.status === "fulfilled")).toHaveLength(limit);
    expect(await store.keys.listByOwner(owner.id)).toHaveLength(limit);
  });

  // ---- sessions ----

  it("sessions: start stores the session and its token; byRefreshHash joins session and user", async () => {
    const owner = await newUser();
    const s = session(owner.id);
    const hash = uid("rt");
    await store.sessions.start(s, firstToken(s, hash));
    expect(await store.sessions.byRefreshHash(hash)).toEqual({
      session_id: s.id,
      spent_at: null,
      expires_at: T0 + 60_000,
      user_id: owner.id,
      amr: '["pwd"]',
      ended_at: null,
      absolute_expires_at: T0 + 120_000,
      idle_ms: 60_000,
      auth_time: T0,
      disabled: 0,
    });
    expect(await store.sessions.byRefreshHash("unknown")).toBeUndefined();
    expect(await store.sessions.liveness(s.id)).toEqual({
      user_id: owner.id,
      ended_at: null,
      absolute_expires_at: T0 + 120_000,
    });
  });

  it("sessions: of racing rotations of one token exactly one wins, and it extends the session", async () => {
    const owner = await newUser();
    const s = session(owner.id);
    const hash = uid("rt");
    await store.sessions.start(s, firstToken(s, hash));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.sessions.rotate(
          hash,
          {
            token_hash: `${hash}-next-${i}`,
            session_id: s.id,
            created_at: T0 + 10,
            expires_at: T0 + 90_000,
            spent_at: null,
          },
          T0 + 10,
        ),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await store.sessions.byRefreshHash(hash))?.spent_at).toBe(T0 + 10);
    expect((await store.sessions.byRefreshHash(`${hash}-next-${winner}`))?.spent_at).toBeNull();
    const losers = results.map((r, i) => (r ? null : `${hash}-next-${i}`)).filter(Boolean);
    for (const lost of losers) expect(await store.sessions.byRefreshHash(lost!)).toBeUndefined();
    const [open] = await store.sessions.listOpen(owner.id, T0);
    expect(open).toMatchObject({ id: s.id, last_used_at: T0 + 10, expires_at: T0 + 90_000 });
  });

  it("sessions: reauthenticate moves the auth time of the user's own open session only", async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const s = session(owner.id);
    const hash = uid("rt");
    await store.sessions.start(s, firstToken(s, hash));
    expect(await store.sessions.reauthenticate(stranger.id, s.id, T0 + 5, '["pwd"]')).toBe(false);
    expect(await store.sessions.reauthenticate(owner.id, s.id, T0 + 5, '["pwd","otp"]')).toBe(true);
    expect(await store.sessions.byRefreshHash(hash)).toMatchObject({
      auth_time: T0 + 5,
      amr: '["pwd","otp"]',
    });
    await store.sessions.end(s.id, T0 + 6, "logout");
    expect(await store.sessions.reauthenticate(owner.id, s.id, T0 + 7, '["pwd"]')).toBe(false);
    expect((await store.sessions.byRefreshHash(hash))?.auth_time).toBe(T0 + 5);
  });

  it("sessions: end ends once, spends the live tokens; ownership and listing follow", async () => {
    const owner = await newUser();
    const other = await newUser();
    const older = session(owner.id, { last_used_at: T0 + 1 });
    const newer = session(owner.id, { last_used_at: T0 + 2 });
    const expired = session(owner.id, { expires_at: T0 - 1 });
    const hash = uid("rt");
    await store.sessions.start(older, firstToken(older, hash));
    for (const s of [newer, expired]) await store.sessions.start(s, firstToken(s, uid("rt")));
    expect((await store.sessions.listOpen(owner.id, T0)).map((s) => s.id)).toEqual([
      newer.id,
      older.id,
    ]);
    expect(await store.sessions.isOwnOpen(owner.id, older.id)).toBe(true);
    expect(await store.sessions.isOwnOpen(other.id, older.id)).toBe(false);
    expect(await store.sessions.end(older.id, T0 + 3, "logout")).toBe(true);
    expect(await store.sessions.end(older.id, T0 + 4, "logout")).toBe(false);
    expect(await store.sessions.isOwnOpen(owner.id, older.id)).toBe(false);
    expect((await store.sessions.byRefreshHash(hash))?.spent_at).toBe(T0 + 3);
    expect((await store.sessions.liveness(older.id))?.ended_at).toBe(T0 + 3);
    expect((await store.sessions.listOpen(owner.id, T0)).map((s) => s.id)).toEqual([newer.id]);
  });

  // ---- keys ----

  it("keys: insert, byHash, owned only by its owner, listed newest first", async () => {
    const owner = await newUser();
    const other = await newUser();
    const a = key(owner.id, { created_at: T0 + 1 });
    const b = key(owner.id, { created_at: T0 + 2 });
    await store.keys.insert(a);
    await store.keys.insert(b);
    expect(await store.keys.byHash(a.key_hash)).toEqual(a);
    expect(await store.keys.byHash("nope")).toBeUndefined();
    expect(await store.keys.owned(a.id, owner.id)).toEqual(a);
    expect(await store.keys.owned(a.id, other.id)).toBeUndefined();
    expect((await store.keys.listByOwner(owner.id)).map((k) => k.id)).toEqual([b.id, a.id]);
  });

  it("keys: byIds finds the keys that exist, of any owner", async () => {
    const a = key((await newUser()).id);
    const b = key((await newUser()).id, { revoked_at: T0 });
    await store.keys.insert(a);
    await store.keys.insert(b);
    const found = await store.keys.byIds([b.id, "key_missing", a.id, a.id]);
    expect(found.sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(
      [a, b].sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
    expect(await store.keys.byIds([])).toEqual([]);
  });

  it("keys: activeOf leaves out revoked and expired keys", async () => {
    const owner = await newUser();
    const live = key(owner.id, { rotated_from: "key_old" });
    const later = key(owner.id, { expires_at: T0 + 1 });
    await store.keys.insert(live);
    await store.keys.insert(later);
    await store.keys.insert(key(owner.id, { revoked_at: T0 - 1 }));
    await store.keys.insert(key(owner.id, { expires_at: T0 }));
    const active = await store.keys.activeOf(owner.id, T0);
    expect(active.sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(
      [
        { id: live.id, rotated_from: "key_old" },
        { id: later.id, rotated_from: null },
      ].sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
  });

  it("keys: descendants walks every depth, parents first, unrevoked only", async () => {
    const owner = await newUser();
    const root = key(owner.id);
    const child = key(owner.id, { parent_key_id: root.id });
    const grandchild = key(owner.id, { parent_key_id: child.id });
    const revoked = key(owner.id, { parent_key_id: root.id, revoked_at: T0 });
    for (const k of [root, child, grandchild, revoked]) await store.keys.insert(k);
    expect((await store.keys.descendants([root.id])).map((k) => k.id)).toEqual([
      child.id,
      grandchild.id,
    ]);
    expect(await store.keys.descendants([grandchild.id])).toEqual([]);
  });

  it("keys: update, revoke (keeping an earlier revocation) and setExpiry", async () => {
    const owner = await newUser();
    const a = key(owner.id);
    const b = key(owner.id, { revoked_at: T0 - 5 });
    await store.keys.insert(a);
    await store.keys.insert(b);
    await store.keys.update(a.id, { name: "renamed", scopes: '["keys:write"]' });
    expect(await store.keys.owned(a.id, owner.id)).toMatchObject({
      name: "renamed",
      scopes: '["keys:write"]',
    });
    await store.keys.revoke([a.id, b.id], T0);
    expect((await store.keys.owned(a.id, owner.id))?.revoked_at).toBe(T0);
    expect((await store.keys.owned(b.id, owner.id))?.revoked_at).toBe(T0 - 5);
    await store.keys.setExpiry([a.id, b.id], T0 + 9);
    expect((await store.keys.owned(a.id, owner.id))?.expires_at).toBe(T0 + 9);
    expect((await store.keys.owned(b.id, owner.id))?.expires_at).toBe(T0 + 9);
    await store.keys.revoke([], T0);
    await store.keys.setExpiry([], T0);
  });

  // ---- usage ----

  it("usage: addCalls adds up and only moves last_used_at forward, also when racing", async () => {
    const owner = await newUser();
    const k = key(owner.id);
    await store.keys.insert(k);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.transaction((tx) => tx.usage.addCalls(k.id, 2, T0 + (i % 3) * 100)),
      ),
    );
    await store.usage.addCalls(k.id, 1, T0 - 1);
    expect(await store.keys.owned(k.id, owner.id)).toMatchObject({
      usage_count: 21,
      last_used_at: T0 + 200,
    });
  });

  it("usage: buckets upsert by (key, hour, endpoint, project); summary sums them", async () => {
    const owner = await newUser();
    const k = key(owner.id);
    await store.keys.insert(k);
    const H = 3_600_000;
    const hour = Math.floor(T0 / H) * H;
    await store.usage.addBuckets([
      { key_id: k.id, hour, endpoint: "GET /a", project_id: "", count: 2 },
      { key_id: k.id, hour, endpoint: "GET /b", project_id: "prj_1", count: 1 },
      { key_id: k.id, hour: hour - 10 * 24 * H, endpoint: "GET /a", project_id: "", count: 4 },
    ]);
    await store.usage.addBuckets([
      { key_id: k.id, hour, endpoint: "GET /a", project_id: "", count: 3 },
    ]);
    await store.usage.addBuckets([]);
    const summary = await store.usage.summary(k.id, hour - 24 * H);
    expect(summary.byEndpoint).toEqual([
      { endpoint: "GET /a", count: 9 },
      { endpoint: "GET /b", count: 1 },
    ]);
    expect(summary.byProject).toEqual([
      { project_id: "", count: 9 },
      { project_id: "prj_1", count: 1 },
    ]);
    expect(summary.byHour).toEqual([{ hour, count: 6 }]);
  });

  it("usage: activity is stored, counted, paged newest first and pruned to the newest", async () => {
    const owner = await newUser();
    const k = key(owner.id);
    await store.keys.insert(k);
    await store.usage.addActivity(
      Array.from({ length: 7 }, (_, i) => ({
        key_id: k.id,
        at: T0 + i,
        endpoint: `GET /${i}`,
        ip: null,
        outcome: "ok",
        verified_by: i === 6 ? "usr_svc" : null,
        count: i === 5 ? 40 : 1,
      })),
    );
    expect(await store.usage.countActivity(k.id)).toBe(7);
    const first = await store.usage.activity(k.id, { limit: 3 });
    expect(first.map((a) => a.at)).toEqual([T0 + 6, T0 + 5, T0 + 4]);
    expect(first[0]).toMatchObject({ endpoint: "GET /6", verified_by: "usr_svc", outcome: "ok" });
    expect(first.map((a) => a.count)).toEqual([1, 40, 1]);
    expect(typeof first[0]!.id).toBe("number");
    const next = await store.usage.activity(k.id, { limit: 3, before: first[2]!.id });
    expect(next.map((a) => a.at)).toEqual([T0 + 3, T0 + 2, T0 + 1]);
    await store.usage.pruneActivity(k.id, 4);
    expect(await store.usage.countActivity(k.id)).toBe(4);
    expect((await store.usage.activity(k.id, { limit: 10 })).map((a) => a.at)).toEqual([
      T0 + 6,
      T0 + 5,
      T0 + 4,
      T0 + 3,
    ]);
    await store.usage.pruneActivity(k.id, 10); // fewer than kept: nothing to do
    expect(await store.usage.countActivity(k.id)).toBe(4);
  });

  flushContract(() => store, newUser);

  // ---- audit ----

  // ---- organizations (issue 16) ----

  async function newOrg(ownerId: string) {
    const account = user({ kind: "org" });
    const org = {
      id: account.id,
      name: "Acme",
      created_by: ownerId,
      created_at: T0,
      updated_at: T0,
      deleted_at: null,
      max_key_lifetime_ms: null,
      require_2fa: 0,
      allowed_environments: null,
      ip_allow: null,
      allowed_scopes: null,
    };
    const owner = {
      org_id: org.id,
      user_id: ownerId,
      role: "owner",
      created_at: T0,
      updated_at: T0,
    };
    await store.orgs.create({ ...account, email: account.id }, org, owner);
    return org;
  }

  it("orgs: create stores the account, the org and its owner; the account is no user by email or list", async () => {
    const alice = await newUser();
    const org = await newOrg(alice.id);
    expect((await store.orgs.byId(org.id))?.name).toBe("Acme");
    expect((await store.users.byId(org.id))?.kind).toBe("org");
    expect(await store.users.byEmail(org.id)).toBeUndefined();
    const listed = await store.users.list({ limit: 10_000, offset: 0 });
    expect(listed.map((u) => u.id)).not.toContain(org.id);
    expect(await store.orgs.membershipsOf(alice.id)).toEqual([
      { org: expect.objectContaining({ id: org.id }), role: "owner" },
    ]);
    expect(await store.orgs.countOwners(org.id)).toBe(1);
    await store.orgs.update(org.id, { deleted_at: T0 + 1 });
    expect(await store.orgs.byId(org.id)).toBeUndefined();
    expect(await store.orgs.membershipsOf(alice.id)).toEqual([]);
  });

  it("orgs: members add once, list owners first with their 2FA, change role and leave", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const org = await newOrg(alice.id);
    const row = {
      org_id: org.id,
      user_id: bob.id,
      role: "viewer",
      created_at: T0 + 1,
      updated_at: T0 + 1,
    };
    expect(await store.orgs.addMember(row)).toBe(true);
    expect(await store.orgs.addMember(row)).toBe(false);
    await store.twofa.putPending(bob.id, "sealed", T0);
    await store.twofa.enable(bob.id, "sealed", 1, T0);
    expect(await store.orgs.has2fa(bob.id)).toBe(true);
    expect(await store.orgs.has2fa(alice.id)).toBe(false);
    const members = await store.orgs.members(org.id);
    expect(members.map((m) => [m.user_id, m.role, m.has_2fa])).toEqual([
      [alice.id, "owner", false],
      [bob.id, "viewer", true],
    ]);
    expect(await store.orgs.setRole(org.id, bob.id, "admin", T0 + 2)).toBe(true);
    expect((await store.orgs.membership(org.id, bob.id))?.role).toBe("admin");
    expect(await store.orgs.removeMember(org.id, bob.id)).toBe(true);
    expect(await store.orgs.removeMember(org.id, bob.id)).toBe(false);
    expect(await store.orgs.removeAllMembers(org.id)).toEqual([alice.id]);
  });

  it("orgs: of racing accepts of one invitation exactly one wins; expired and revoked ones never", async () => {
    const alice = await newUser();
    const org = await newOrg(alice.id);
    const invitation = (id: string, overrides = {}) => ({
      id,
      org_id: org.id,
      email: "bob@example.test",
      role: "member",
      token_hash: `hash-${id}`,
      invited_by: alice.id,
      created_at: T0,
      expires_at: T0 + 1000,
      accepted_at: null,
      accepted_by: null,
      revoked_at: null,
      ...overrides,
    });
    const id = uid("inv");
    await store.orgs.insertInvitation(invitation(id));
    expect((await store.orgs.invitationByHash(`hash-${id}`))?.id).toBe(id);
    const wins = await Promise.all(
      Array.from({ length: 10 }, () => store.orgs.acceptInvitation(id, alice.id, T0 + 1)),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    const late = uid("inv");
    await store.orgs.insertInvitation(invitation(late));
    expect(await store.orgs.acceptInvitation(late, alice.id, T0 + 1000)).toBe(false);
    const revoked = uid("inv");
    await store.orgs.insertInvitation(invitation(revoked));
    expect((await store.orgs.pendingInvitations(org.id, T0)).map((i) => i.id)).toContain(revoked);
    expect(await store.orgs.revokeInvitation(org.id, revoked, T0 + 1)).toBe(true);
    expect(await store.orgs.revokeInvitation(org.id, revoked, T0 + 1)).toBe(false);
    expect(await store.orgs.acceptInvitation(revoked, alice.id, T0 + 2)).toBe(false);
    expect((await store.orgs.pendingInvitations(org.id, T0 + 2)).map((i) => i.id)).toEqual([late]);
  });

  it("orgs: keysOf lists the organization's unrevoked keys, all or one member's", async () => {
    const alice = await newUser();
    const org = await newOrg(alice.id);
    const mine = key(org.id, { created_by: alice.id });
    const other = key(org.id, { created_by: "usr_other" });
    const gone = key(org.id, { created_by: alice.id, revoked_at: T0 });
    for (const row of [mine, other, gone]) await store.keys.insert(row);
    expect((await store.orgs.keysOf(org.id)).map((k) => k.id).sort()).toEqual(
      [mine.id, other.id].sort(),
    );
    expect((await store.orgs.keysOf(org.id, alice.id)).map((k) => k.id)).toEqual([mine.id]);
  });

  it("audit: lists an organization's events by org_id", async () => {
    const orgId = uid("org");
    await store.audit.insert({
      at: T0,
      user_id: "usr_a",
      actor: null,
      event: "org_created",
      ip: null,
      details: null,
      org_id: orgId,
    });
    await store.audit.insert({
      at: T0,
      user_id: "usr_a",
      actor: null,
      event: "login",
      ip: null,
      details: null,
    });
    const listed = await store.audit.list({ userId: null, orgId, limit: 10 });
    expect(listed.map((e) => e.event)).toEqual(["org_created"]);
  });

  it("audit: insert and list newest first, by user, event and before", async () => {
    const a = await newUser();
    const b = await newUser();
    await store.audit.insert({
      at: T0,
      user_id: a.id,
      actor: null,
      event: "signup",
      ip: "203.0.113.9",
      details: null,
    });
    await store.audit.insert({
      at: T0 + 1,
      user_id: a.id,
      actor: "session:ses_1",
      event: "login",
      ip: null,
      details: '{"amr":["pwd"]}',
    });
    await store.audit.insert({
      at: T0 + 2,
      user_id: b.id,
      actor: null,
      event: "login",
      ip: null,
      details: null,
    });
    const mine = await store.audit.list({ userId: a.id, limit: 10 });
    expect(mine.map((e) => e.event)).toEqual(["login", "signup"]);
    expect(mine[0]).toMatchObject({ actor: "session:ses_1", details: '{"amr":["pwd"]}' });
    expect(
      (await store.audit.list({ userId: a.id, limit: 10, before: mine[0]!.id })).map(
        (e) => e.event,
      ),
    ).toEqual(["signup"]);
    const logins = await store.audit.list({ userId: null, limit: 10, event: "login" });
    expect(logins.slice(0, 2).map((e) => e.user_id)).toEqual([b.id, a.id]);
    expect(await store.audit.list({ userId: a.id, limit: 1 })).toHaveLength(1);
  });

  // ---- twofa ----

  it("twofa: a pending factor is put and replaced; an enabled one is never replaced", async () => {
    const u = await newUser();
    expect(await store.twofa.factor(u.id)).toBeUndefined();
    expect(await store.twofa.putPending(u.id, "sealed-1", T0)).toBe(true);
    expect(await store.twofa.putPending(u.id, "sealed-2", T0 + 1)).toBe(true);
    expect(await store.twofa.factor(u.id)).toEqual({
      user_id: u.id,
      secret_ciphertext: "sealed-2",
      enabled_at: null,
      last_used_step: null,
      created_at: T0 + 1,
    });
    // The old secret's code may not enable the replacing one.
    expect(await store.twofa.enable(u.id, "sealed-1", 5, T0 + 2)).toBe(false);
    expect(await store.twofa.enable(u.id, "sealed-2", 5, T0 + 2)).toBe(true);
    expect(await store.twofa.enable(u.id, "sealed-2", 6, T0 + 3)).toBe(false);
    expect(await store.twofa.putPending(u.id, "sealed-3", T0 + 4)).toBe(false);
    expect(await store.twofa.factor(u.id)).toMatchObject({
      secret_ciphertext: "sealed-2",
      enabled_at: T0 + 2,
      last_used_step: 5,
    });
    expect(await store.twofa.anyFactor()).toBeDefined();
  });

  it("twofa: a step is claimed once and only forwards, however many race", async () => {
    const u = await newUser();
    await store.twofa.putPending(u.id, "s", T0);
    expect(await store.twofa.claimStep(u.id, 1)).toBe(false); // not enabled yet
    await store.twofa.enable(u.id, "s", 10, T0);
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => store.twofa.claimStep(u.id, 11)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.twofa.claimStep(u.id, 11)).toBe(false);
    expect(await store.twofa.claimStep(u.id, 9)).toBe(false);
    expect(await store.twofa.claimStep(u.id, 12)).toBe(true);
  });

  it("twofa: backup codes are replaced as a set, used once each (racing), counted", async () => {
    const u = await newUser();
    await store.twofa.putPending(u.id, "s", T0);
    await store.twofa.enable(u.id, "s", 1, T0);
    const rows = (prefix: string) =>
      ["a", "b", "c"].map((c) => ({
        id: uid("bkc"),
        user_id: u.id,
        code_hash: `${prefix}-${c}`,
        created_at: T0,
        used_at: null,
      }));
    await store.twofa.replaceBackupCodes(u.id, rows("old"));
    await store.twofa.replaceBackupCodes(u.id, rows("new"));
    expect(await store.twofa.unusedBackupCodes(u.id)).toBe(3);
    expect(await store.twofa.useBackupCode(u.id, ["old-a"], T0)).toBe(false);
    const uses = await Promise.all(
      Array.from({ length: 6 }, () => store.twofa.useBackupCode(u.id, ["x", "new-a"], T0 + 1)),
    );
    expect(uses.filter(Boolean)).toHaveLength(1);
    expect(await store.twofa.unusedBackupCodes(u.id)).toBe(2);
    expect(await store.transaction((tx) => tx.twofa.lockEnabled(u.id))).toBe(true);
    await store.twofa.remove(u.id);
    expect(await store.twofa.factor(u.id)).toBeUndefined();
    expect(await store.twofa.unusedBackupCodes(u.id)).toBe(0);
    expect(await store.transaction((tx) => tx.twofa.lockEnabled(u.id))).toBe(false);
  });

  it("twofa: MFA tokens are issued (clearing the user's expired ones), looked up, spent once", async () => {
    const u = await newUser({ disabled: 1 });
    const row = (hash: string, createdAt: number) => ({
      token_hash: hash,
      user_id: u.id,
      ip: null,
      created_at: createdAt,
      expires_at: createdAt + 1000,
      used_at: null,
    });
    const old = uid("mfa");
    const fresh = uid("mfa");
    await store.twofa.issueMfaToken(row(old, T0));
    await store.twofa.issueMfaToken(row(fresh, T0 + 5000));
    expect(await store.twofa.mfaToken(old)).toBeUndefined();
    expect(await store.twofa.mfaToken(fresh)).toEqual({
      user_id: u.id,
      expires_at: T0 + 6000,
      used_at: null,
      disabled: 1,
    });
    const spends = await Promise.all(
      Array.from({ length: 5 }, () => store.twofa.spendMfaToken(fresh, T0 + 5001)),
    );
    expect(spends.filter(Boolean)).toHaveLength(1);
    expect((await store.twofa.mfaToken(fresh))?.used_at).toBe(T0 + 5001);
    expect(await store.twofa.spendMfaToken("unknown", T0)).toBe(false);
  });

  it("sealed: values counted by the key id they name, listed by id when not under a key, re-sealed only where unchanged", async () => {
    const counts = async () => ({
      totp: Object.fromEntries(await store.sealed.countByKey("totp_secret")),
      codes: Object.fromEntries(await store.sealed.countByKey("backup_code")),
      mail: Object.fromEntries(await store.sealed.countByKey("mail_payload")),
    });
    const before = await counts();
    const users = [await newUser(), await newUser(), await newUser()];
    const [a, b, c] = users.map((u) => u.id) as [string, string, string];
    await store.twofa.putPending(a, "v2.0000aaaa.iv.body.tag", T0);
    await store.twofa.putPending(b, "v2.0000bbbb.iv.body.tag", T0);
    await store.twofa.putPending(c, "v1.iv.body.tag", T0);
    await store.twofa.replaceBackupCodes(a, [
      { id: uid("bkc"), user_id: a, code_hash: "v2.0000aaaa.h1", created_at: T0, used_at: null },
      { id: uid("bkc"), user_id: a, code_hash: "v2.0000aaaa.h2", created_at: T0, used_at: T0 },
      { id: uid("bkc"), user_id: a, code_hash: "f00d", created_at: T0, used_at: null },
    ]);
    const mail = (id: string, payload: string, sent: number | null) => ({
      id,
      kind: "verify_email",
      payload,
      created_at: T0,
      next_attempt_at: T0,
      attempts: 0,
      lease_until: null,
      sent_at: sent,
      failed_at: null,
      last_error: null,
    });
    const m1 = uid("msg");
    await store.mail.insert(mail(m1, "v2.0000aaaa.iv.body.tag", null));
    // (Far-future times: the mail tests below count and prune around T0.)
    await store.mail.insert(mail(uid("msg"), "", T0 + 1e9));
    const after = await counts();
    const delta = (now: Record<string, number>, then: Record<string, number>, id: string) =>
      (now[id] ?? 0) - (then[id] ?? 0);
    expect(delta(after.totp, before.totp, "0000aaaa")).toBe(1);
    expect(delta(after.totp, before.totp, "0000bbbb")).toBe(1);
    expect(delta(after.totp, before.totp, "")).toBe(1);
    // Spent backup codes and sent mail need no key.
    expect(delta(after.codes, before.codes, "0000aaaa")).toBe(1);
    expect(delta(after.codes, before.codes, "")).toBe(1);
    expect(delta(after.mail, before.mail, "0000aaaa")).toBe(1);

    const mine = new Set([a, b, c]);
    const notUnder = async (keyId: string, after: string, limit: number) =>
      (await store.sealed.notUnder("totp_secret", keyId, after, limit)).filter((r) =>
        mine.has(r.id),
      );
    const sorted = [a, b, c].sort();
    const page = (await notUnder("0000bbbb", "", 1000)).map((r) => r.id);
    expect(page).toEqual(sorted.filter((id) => id !== b));
    expect((await notUnder("0000bbbb", sorted[0]!, 1000)).map((r) => r.id)).not.toContain(
      sorted[0],
    );
    expect(
      (await store.sealed.notUnder("mail_payload", "0000bbbb", "", 1000)).map((r) => r.id),
    ).toContain(m1);

    // Only rows still holding the value read are written: c changed meanwhile.
    await store.twofa.putPending(c, "v2.0000cccc.new.setup.tag", T0 + 1);
    const written = await store.sealed.replace("totp_secret", [
      { id: a, from: "v2.0000aaaa.iv.body.tag", to: "v2.0000bbbb.re.sealed.a" },
      { id: c, from: "v1.iv.body.tag", to: "v2.0000bbbb.re.sealed.c" },
    ]);
    expect(written).toBe(1);
    expect((await store.twofa.factor(a))?.secret_ciphertext).toBe("v2.0000bbbb.re.sealed.a");
    expect((await store.twofa.factor(c))?.secret_ciphertext).toBe("v2.0000cccc.new.setup.tag");
    expect(
      await store.sealed.replace("mail_payload", [
        { id: m1, from: "v2.0000aaaa.iv.body.tag", to: "v2.0000bbbb.x.y.z" },
      ]),
    ).toBe(1);
    expect(await store.mail.sent(m1, 0, T0 + 1e9)).toBe(true);
  });

  // ---- projects ----

  it("projects: insert, list oldest first, ownership", async () => {
    const owner = await newUser();
    const other = await newUser();
    const a = { id: uid("prj"), owner_id: owner.id, name: "a", created_at: T0 + 1 };
    const b = { id: uid("prj"), owner_id: owner.id, name: "b", created_at: T0 + 2 };
    await store.projects.insert(b);
    await store.projects.insert(a);
    expect(await store.projects.listByOwner(owner.id)).toEqual([a, b]);
    expect(await store.projects.listByOwner(other.id)).toEqual([]);
    expect(await store.projects.isOwnedBy(a.id, owner.id)).toBe(true);
    expect(await store.projects.isOwnedBy(a.id, other.id)).toBe(false);
    expect(await store.projects.isOwnedBy("prj_missing", owner.id)).toBe(false);
  });

  it("sessions: endAllOf ends the user's open sessions but the kept one, spending their tokens", async () => {
    const u = await newUser();
    const other = await newUser();
    const [keep, a, b] = [session(u.id), session(u.id), session(u.id)];
    const theirs = session(other.id);
    for (const s of [keep, a, b, theirs]) await store.sessions.start(s, firstToken(s, uid("rt")));
    await store.sessions.end(b.id, T0 + 1, "logout");
    const ended = await store.sessions.endAllOf(u.id, T0 + 5, "password_changed", keep.id);
    expect(ended).toEqual([a.id]);
    expect((await store.sessions.listOpen(u.id, T0)).map((s) => s.id)).toEqual([keep.id]);
    expect(await store.sessions.isOwnOpen(other.id, theirs.id)).toBe(true);
    const all = await store.sessions.endAllOf(u.id, T0 + 6, "password_reset", null);
    expect(all).toEqual([keep.id]);
    expect(await store.sessions.listOpen(u.id, T0)).toEqual([]);
    expect(await store.sessions.endAllOf(u.id, T0 + 7, "password_reset", null)).toEqual([]);
  });

  it("account tokens: looked up by hash, spent once (racing) while unexpired, superseded per purpose", async () => {
    const u = await newUser();
    const token = (purpose: "verify_email" | "password_reset", expires = T0 + 60_000) => ({
      token_hash: uid("hash"),
      user_id: u.id,
      purpose,
      email: u.email,
      created_at: T0,
      expires_at: expires,
      used_at: null,
    });
    const reset = token("password_reset");
    const old = token("password_reset");
    const verify = token("verify_email");
    const expired = token("password_reset", T0 + 10);
    for (const row of [reset, old, verify, expired]) await store.accountTokens.insert(row);
    expect(await store.accountTokens.byHash(reset.token_hash)).toEqual(reset);
    expect(await store.accountTokens.byHash("missing")).toBeUndefined();

    const spends = await Promise.all(
      Array.from({ length: 8 }, () => store.accountTokens.spend(reset.token_hash, T0 + 1)),
    );
    expect(spends.filter(Boolean)).toHaveLength(1);
    expect(await store.accountTokens.spend(expired.token_hash, T0 + 10)).toBe(false);

    await store.accountTokens.supersede(u.id, "password_reset", T0 + 2);
    expect((await store.accountTokens.byHash(old.token_hash))!.used_at).toBe(T0 + 2);
    // The earlier spend keeps its time; another purpose is untouched.
    expect((await store.accountTokens.byHash(reset.token_hash))!.used_at).toBe(T0 + 1);
    expect((await store.accountTokens.byHash(verify.token_hash))!.used_at).toBeNull();
    expect(await store.accountTokens.spend(old.token_hash, T0 + 3)).toBe(false);

    await store.accountTokens.deleteExpired(u.id, T0 + 11);
    expect(await store.accountTokens.byHash(expired.token_hash)).toBeUndefined();
    expect(await store.accountTokens.byHash(reset.token_hash)).toBeDefined();
  });

  it("webhooks: an event is stored once per dedup key; each due delivery is claimed by one sender", async () => {
    const owner = user();
    await store.users.insert(owner);
    const endpoint = {
      id: uid("whe"),
      owner_id: owner.id,
      url: "https://hooks.example.com/x",
      description: null,
      events: '["key.created"]',
      secret_sealed: "sealed",
      enabled: 1,
      disabled_reason: null,
      failing_since: null,
      created_at: T0,
      updated_at: T0,
    };
    await store.webhooks.insertEndpoint(endpoint);
    expect(await store.webhooks.hasEndpoints(owner.id)).toBe(true);
    const event = (dedup: string | null) => ({
      id: uid("evt"),
      owner_id: owner.id,
      type: "key.created",
      payload: "{}",
      dedup_key: dedup,
      created_at: T0,
    });
    const once = `key.expiring:7d:${uid("key")}`;
    const racing = await Promise.all([
      store.webhooks.insertEvent(event(once)),
      store.webhooks.insertEvent(event(once)),
    ]);
    expect(racing.filter(Boolean)).toHaveLength(1);
    expect(await store.webhooks.seenDedupKeys([once, "other"])).toEqual(new Set([once]));
    const events = Array.from({ length: 30 }, () => event(null));
    for (const e of events) expect(await store.webhooks.insertEvent(e)).toBe(true);
    await store.webhooks.insertDeliveries(
      events.map((e) => ({
        id: uid("whd"),
        event_id: e.id,
        endpoint_id: endpoint.id,
        created_at: T0,
        next_attempt_at: T0,
        attempts: 0,
        lease_until: null,
        delivered_at: null,
        failed_at: null,
        last_status: null,
        last_latency_ms: null,
        last_error: null,
      })),
    );
    const claims = await Promise.all(
      Array.from({ length: 4 }, () => store.webhooks.claim(T0, T0 + 1_000, 10)),
    );
    const claimed = claims.flat();
    expect(new Set(claimed.map((d) => d.id)).size).toBe(claimed.length);
    const rest = await store.webhooks.claim(T0, T0 + 1_000, 50);
    expect(claimed.length + rest.length).toBe(30);
    expect(await store.webhooks.claim(T0 + 999, T0 + 2_000, 50)).toEqual([]);
    const [first, second] = claimed;
    expect(first).toMatchObject({ attempts: 1, url: endpoint.url, type: "key.created" });
    const attempt = (id: string, status: number | null) => ({
      delivery_id: id,
      attempt: 1,
      at: T0 + 5,
      status,
      latency_ms: 3,
      error: status === 200 ? null : "answered 500",
    });
    expect(
      await store.webhooks.finish(first!.id, attempt(first!.id, 200), {
        delivered: true,
        nextAttemptAt: null,
      }),
    ).toBe(true);
    // The same attempt cannot end it twice.
    expect(
      await store.webhooks.finish(first!.id, attempt(first!.id, 200), {
        delivered: true,
        nextAttemptAt: null,
      }),
    ).toBe(false);
    await store.webhooks.finish(second!.id, attempt(second!.id, 500), {
      delivered: false,
      nextAttemptAt: T0 + 60_000,
    });
    expect(await store.webhooks.attempts(second!.id)).toHaveLength(1);
    expect(await store.webhooks.delivery(second!.id)).toMatchObject({
      last_status: 500,
      next_attempt_at: T0 + 60_000,
      delivered_at: null,
    });
    const again = (await store.webhooks.claim(T0 + 1_000, T0 + 9_000, 100)).map((d) => d.id);
    expect(again).not.toContain(first!.id);
    expect(again).not.toContain(second!.id);
    expect(again).toHaveLength(28);
    // Switched off: what is still queued is given up.
    expect(await store.webhooks.abandonPending(endpoint.id, T0 + 10_000, "off")).toBe(29);
    expect(await store.webhooks.claim(T0 + 100_000, T0 + 200_000, 100)).toEqual([]);
    const page = await store.webhooks.deliveries(endpoint.id, { limit: 10 });
    expect(page).toHaveLength(10);
    const next = await store.webhooks.deliveries(endpoint.id, { limit: 50, before: page[9]!.id });
    expect(next).toHaveLength(20);
    expect(new Set([...page, ...next].map((d) => d.id)).size).toBe(30);
    // Deleting the endpoint takes its deliveries and attempts with it.
    expect(await store.webhooks.deleteEndpoint(endpoint.id)).toBe(true);
    expect(await store.webhooks.attempts(second!.id)).toEqual([]);
    expect(await store.webhooks.prune(T0 + 1)).toBeGreaterThanOrEqual(30);
  });

  it("exclusive: one holder of a name at a time; released when done", async () => {
    let inside = 0;
    let most = 0;
    const hold = async () => {
      inside += 1;
      most = Math.max(most, inside);
      await new Promise((resolve) => setTimeout(resolve, 30));
      inside -= 1;
      return "ran";
    };
    const name = uid("lock");
    const results = await Promise.all([store.exclusive(name, hold), store.exclusive(name, hold)]);
    expect(most).toBe(1);
    expect(results.filter((r) => r === "ran")).toHaveLength(1);
    expect(await store.exclusive(name, hold)).toBe("ran");
  });

  it("mail: due messages are claimed with a lease by one sender each, then sent or retried", async () => {
    const row = (id: string, due: number) => ({
      id,
      kind: "verify_email",
      payload: "sealed",
      created_at: T0,
      next_attempt_at: due,
      attempts: 0,
      lease_until: null,
      sent_at: null,
      failed_at: null,
      last_error: null,
    });
    const ids = Array.from({ length: 30 }, () => uid("msg"));
    for (const id of ids) await store.mail.insert(row(id, T0));
    const later = uid("msg");
    await store.mail.insert(row(later, T0 + 60_000));
    expect(await store.mail.pending()).toBe(31);

    // Racing senders: every due message is claimed exactly once.
    const claims = await Promise.all(
      Array.from({ length: 4 }, () => store.mail.claim(T0, T0 + 1_000, 10)),
    );
    const claimed = claims.flat();
    expect(new Set(claimed.map((m) => m.id)).size).toBe(claimed.length);
    const rest = await store.mail.claim(T0, T0 + 1_000, 50);
    expect([...claimed, ...rest].map((m) => m.id).sort()).toEqual([...ids].sort());
    expect(claimed.every((m) => m.attempts === 1 && m.lease_until === T0 + 1_000)).toBe(true);
    // Leased: not claimed again until the lease runs out.
    expect(await store.mail.claim(T0 + 999, T0 + 2_000, 50)).toEqual([]);

    const [first, second, third] = claimed;
    expect(await store.mail.sent(first!.id, 1, T0 + 5)).toBe(true);
    expect(await store.mail.sent(first!.id, 1, T0 + 6)).toBe(false);
    await store.mail.failed(second!.id, 1, T0 + 5, T0 + 15_000, "451 try later");
    await store.mail.failed(third!.id, 1, T0 + 5, null, "550 no such user");

    const afterLease = await store.mail.claim(T0 + 1_000, T0 + 9_000, 100);
    const again = afterLease.map((m) => m.id);
    expect(again).not.toContain(first!.id);
    expect(again).not.toContain(second!.id); // retried from T0 + 15 s
    expect(again).not.toContain(third!.id); // given up
    expect(again).toHaveLength(27);
    expect(afterLease.every((m) => m.attempts === 2)).toBe(true);
    // An attempt that lost its lease to a newer one cannot mark the message sent.
    const stale = afterLease[0]!;
    expect(await store.mail.sent(stale.id, 1, T0 + 1_001)).toBe(false);
    expect(await store.mail.sent(stale.id, 2, T0 + 1_001)).toBe(true);

    const retried = await store.mail.claim(T0 + 60_000, T0 + 61_000, 100);
    expect(retried.map((m) => m.id).sort()).toEqual([second!.id, later, ...again.slice(1)].sort());
    const given = await store.mail.claim(T0 + 10_000_000, T0 + 10_001_000, 100);
    expect(given.map((m) => m.id)).not.toContain(third!.id);

    // Sent and given-up rows go after their keeping time; unsent ones stay.
    const pendingBefore = await store.mail.pending();
    expect(await store.mail.prune(T0 + 6)).toBe(2); // first (sent at +5), third (gave up at +5)
    expect(await store.mail.pending()).toBe(pendingBefore);
  });

  it("login failures: count, add atomically under concurrency, subtract never below zero, clear", async () => {
    const email = "failures@example.test";
    expect(await store.loginFailures.count(email)).toBe(0);
    const counts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.loginFailures.add(email, 1_000 + i)),
    );
    expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(await store.loginFailures.count(email)).toBe(12);
    await store.loginFailures.subtract(email);
    expect(await store.loginFailures.count(email)).toBe(11);
    await store.loginFailures.clear(email);
    expect(await store.loginFailures.count(email)).toBe(0);
    await store.loginFailures.subtract(email);
    expect(await store.loginFailures.count(email)).toBe(0);
    expect(await store.loginFailures.add(email, 2_000)).toBe(1);
    expect(await store.loginFailures.count("other@example.test")).toBe(0);
  });

  it("login failures: prune forgets old counts, but a suspended account's stays", async () => {
    const account = await newUser();
    const unknown = `unknown-${uid("x")}@example.test`;
    const fresh = `fresh-${uid("x")}@example.test`;
    for (let i = 0; i < 100; i++) await store.loginFailures.add(account.email, 10);
    for (let i = 0; i < 100; i++) await store.loginFailures.add(unknown, 10);
    await store.loginFailures.add(fresh, 1_000);
    expect(await store.loginFailures.prune(500, 100)).toBeGreaterThanOrEqual(1);
    expect(await store.loginFailures.count(unknown)).toBe(0);
    expect(await store.loginFailures.count(account.email)).toBe(100);
    expect(await store.loginFailures.count(fresh)).toBe(1);
    await store.loginFailures.subtract(account.email);
    await store.loginFailures.prune(500, 100);
    expect(await store.loginFailures.count(account.email)).toBe(0);
  });
});

/** UsageStore.flush, on every engine and (below) through the SQLite worker. */
function flushContract(
  storeOf: () => Store,
  newUser: (overrides?: Partial<UserRow>) => Promise<UserRow>,
): void {
  const H = 3_600_000;
  const hour = Math.floor(T0 / H) * H;
  const row = (keyId: string, i: number) => ({
    key_id: keyId,
    at: T0 + i,
    endpoint: `GET /${i % 3}`,
    ip: i % 2 ? "203.0.113.9" : null,
    outcome: "ok",
    verified_by: null,
    // The first row stands for three reported calls (a verifier's batch).
    count: i === 0 ? 3 : 1,
  });
  async function twoKeys(): Promise<[KeyRow, KeyRow]> {
    const owner = await newUser();
    const a = key(owner.id);
    const b = key(owner.id);
    for (const k of [a, b]) await storeOf().keys.insert(k);
    return [a, b];
  }
  const batch = (a: KeyRow, b: KeyRow, n: number, prune: string[] = []): UsageBatch => ({
    calls: [
      { key_id: a.id, count: n, last: T0 + n, sampled: 2 },
      { key_id: b.id, count: 1, last: T0, sampled: 0 },
    ].sort((x, y) => (x.key_id < y.key_id ? -1 : 1)),
    buckets: [
      { key_id: a.id, hour, endpoint: "GET /a", project_id: "", count: n - 1 },
      { key_id: a.id, hour, endpoint: "GET /b", project_id: "prj_1", count: 1 },
      { key_id: b.id, hour, endpoint: "GET /a", project_id: "", count: 1 },
    ],
    activity: [...Array.from({ length: n - 2 }, (_, i) => row(a.id, i)), row(b.id, 0)],
    prune,
    keep: 4,
  });

  it("usage: flush writes counters, buckets, activity and sampled counts exactly, for many keys", async () => {
    const store = storeOf();
    const [a, b] = await twoKeys();
    expect(await store.usage.flush(batch(a, b, 10))).toEqual(new Map());
    expect(await store.usage.flush(batch(a, b, 5))).toEqual(new Map());
    expect(await store.keys.owned(a.id, a.owner_id)).toMatchObject({
      usage_count: 15,
      last_used_at: T0 + 10,
    });
    expect(await store.keys.owned(b.id, b.owner_id)).toMatchObject({ usage_count: 2 });
    const summary = await store.usage.summary(a.id, hour);
    expect(summary.byEndpoint).toEqual([
      { endpoint: "GET /a", count: 13 },
      { endpoint: "GET /b", count: 2 },
    ]);
    expect(summary.byHour).toEqual([{ hour, count: 15 }]);
    expect(await store.usage.countActivity(a.id)).toBe(8 + 3);
    expect(await store.usage.countActivity(b.id)).toBe(2);
    expect(await store.usage.sampled(a.id)).toBe(4);
    expect(await store.usage.sampled(b.id)).toBe(0);
    const [newest] = await store.usage.activity(a.id, { limit: 1 });
    expect(newest).toMatchObject({ at: T0 + 2, endpoint: "GET /2", ip: null, count: 1 });
    const oldest = await store.usage.activity(a.id, { limit: 11 });
    expect(oldest.at(-1)).toMatchObject({ at: T0, count: 3 });
  });

  it("usage: flush prunes the listed keys to the newest `keep` and answers their counts", async () => {
    const store = storeOf();
    const [a, b] = await twoKeys();
    await store.usage.flush(batch(a, b, 5));
    const stored = await store.usage.flush(batch(a, b, 5, [a.id, b.id]));
    expect(stored).toEqual(
      new Map([
        [a.id, 4],
        [b.id, 2],
      ]),
    );
    expect(await store.usage.countActivity(a.id)).toBe(4);
    const rows = await store.usage.activity(a.id, { limit: 10 });
    expect(rows.map((r) => r.at)).toEqual([T0 + 2, T0 + 1, T0, T0 + 2]);
  });

  it("usage: a failing flush writes nothing at all", async () => {
    const store = storeOf();
    const [a, b] = await twoKeys();
    const bad = batch(a, b, 5);
    // The last statement fails (an activity row of a key that does not exist).
    bad.activity.push(row("key_missing", 0));
    await expect(store.usage.flush(bad)).rejects.toThrow();
    expect(await store.keys.owned(a.id, a.owner_id)).toMatchObject({ usage_count: 0 });
    expect(await store.usage.summary(a.id, hour)).toMatchObject({ byEndpoint: [] });
    expect(await store.usage.countActivity(a.id)).toBe(0);
    expect(await store.usage.sampled(a.id)).toBe(0);
    await store.usage.flush(batch(a, b, 5)); // and the store is fine afterwards
    expect(await store.keys.owned(a.id, a.owner_id)).toMatchObject({ usage_count: 5 });
  });
}

const gateAudit = (userId: string, event: string) => ({
  at: T0,
  user_id: userId,
  actor: null,
  event,
  ip: null,
  details: null,
});

describe("store contract: usage flush [sqlite file, in the usage worker]", () => {
  let store: Store;
  let dir = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lk-usage-"));
    const db = openDb(join(dir, "latchkey.db"));
    await migrate(db);
    store = kyselyStore(db);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const newUser = async (overrides: Partial<UserRow> = {}) => {
    const row = user(overrides);
    await store.users.insert(row);
    return row;
  };

  flushContract(() => store, newUser);

  it("never lets an event-loop write meet the worker's transaction (the write gate)", async () => {
    // No busy handler on this thread: a write that found the worker holding SQLite's lock
    // would fail at once with SQLITE_BUSY instead of sleeping. Through the gate it never does.
    await sql`pragma busy_timeout = 0`.execute((store as KyselyStore).db);
    try {
      const owner = await newUser();
      const keys = Array.from({ length: 50 }, () => key(owner.id));
      for (const k of keys) await store.keys.insert(k);
      const H = 3_600_000;
      const big = (round: number): UsageBatch => ({
        calls: keys
          .map((k) => ({ key_id: k.id, count: 40, last: T0 + round, sampled: 0 }))
          .sort((x, y) => (x.key_id < y.key_id ? -1 : 1)),
        buckets: keys.map((k) => ({
          key_id: k.id,
          hour: Math.floor(T0 / H) * H,
          endpoint: "POST /v1/keys/verify",
          project_id: "",
          count: 40,
        })),
        activity: keys.flatMap((k) =>
          Array.from({ length: 40 }, (_, i) => ({
            key_id: k.id,
            at: T0 + i,
            endpoint: "POST /v1/keys/verify",
            ip: null,
            outcome: "valid",
            verified_by: null,
            count: 1,
          })),
        ),
        prune: [],
        keep: 1000,
      });
      let flushing = true;
      const flushes = (async () => {
        try {
          for (let round = 0; round < 15; round += 1) await store.usage.flush(big(round));
        } finally {
          flushing = false;
        }
      })();
      let writes = 0;
      while (flushing) {
        // Both kinds of event-loop write: a statement alone, and a transaction.
        await store.audit.insert(gateAudit(owner.id, `gate_${writes}`));
        await store.transaction(async (tx) => {
          await tx.audit.insert(gateAudit(owner.id, `gate_tx_${writes}`));
        });
        writes += 1;
        // SQLite answers in microtasks: let the worker's replies (macrotasks) in.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await flushes;
      expect(writes).toBeGreaterThan(5);
      const counted = await store.keys.owned(keys[0]!.id, owner.id);
      expect(counted?.usage_count).toBe(15 * 40);
    } finally {
      await sql`pragma busy_timeout = 5000`.execute((store as KyselyStore).db);
    }
  });

  it("runs the flush on the worker's thread, not this one", () => {
    const usage = store.usage as SqliteWorkerUsage;
    expect(usage).toBeInstanceOf(SqliteWorkerUsage);
    expect(usage.workerStats.flushes).toBeGreaterThan(0);
    expect(usage.workerStats.threadId).not.toBe(threadId);
    expect(usage.workerStats.threadId).toBeGreaterThan(0);
  });
});
