/** Shared steps of the SDK suites: accounts, keys, a counting fetch, polling with a deadline. */
import { expect } from "vitest";
import { client, signupAndLogin } from "../helpers/http.js";

/** Every call a verifier makes, as `METHOD /path`. */
export function countingFetch() {
  const calls: string[] = [];
  const fetchImpl: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    calls.push(`${init?.method ?? "GET"} ${new URL(url).pathname}`);
    return fetch(input, init);
  };
  return {
    fetch: fetchImpl,
    calls,
    count: (what: string) => calls.filter((c) => c === what).length,
  };
}

export async function createKey(
  base: string,
  token: string,
  body: Record<string, unknown>,
): Promise<{ id: string; key: string }> {
  const reply = await client(base).post("/v1/api-keys", { name: "test", ...body }, { token });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return { id: reply.body.id, key: reply.body.key };
}

const staffOf = new Map<string, Promise<string>>();

/** The platform's staff on a test server: its first account, signed up on first use. */
function staffToken(base: string): Promise<string> {
  let token = staffOf.get(base);
  if (!token) {
    token = (async () => {
      const staff = await signupAndLogin(base);
      const who = await client(base).get("/v1/auth/whoami", { token: staff.accessToken });
      if (who.body.staff !== true)
        throw new Error("the server already had accounts: call ownerWithKeys before any signup");
      return staff.accessToken;
    })();
    staffOf.set(base, token);
  }
  return token;
}

/**
 * A platform service's `keys:verify` key: verifying is a service privilege, so staff mark a
 * service account (`service: true`) and it mints the key, as a platform would.
 */
export async function platformService(base: string) {
  const staff = await staffToken(base);
  const account = await signupAndLogin(base);
  const patch = await client(base).patch(
    `/v1/admin/users/${account.userId}`,
    { service: true },
    { token: staff },
  );
  expect(patch.status, JSON.stringify(patch.body)).toBe(200);
  const key = await createKey(base, account.accessToken, {
    name: "service",
    scopes: ["keys:verify"],
  });
  return { ...key, account };
}

/** A signed-in owner, a platform service's `keys:verify` key, and a helper to mint keys. */
export async function ownerWithKeys(base: string) {
  const serviceKey = (await platformService(base)).key;
  const user = await signupAndLogin(base);
  return {
    ...user,
    serviceKey,
    key: (scopes: string[], extra: Record<string, unknown> = {}) =>
      createKey(base, user.accessToken, { scopes, ...extra }),
    revoke: async (id: string) => {
      const reply = await client(base).delete(`/v1/api-keys/${id}`, { token: user.accessToken });
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    },
  };
}

/** Polls `probe` until it returns true; fails after `withinMs`. Returns the time it took. */
export async function within(withinMs: number, probe: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - start;
    const spent = performance.now() - start;
    if (spent > withinMs) throw new Error(`not within ${withinMs} ms (waited ${spent.toFixed(0)})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Test servers here give every account an unlimited plan: suites mint many keys. */
export const UNLIMITED = { LATCHKEY_DEFAULT_PLAN: "enterprise" };
