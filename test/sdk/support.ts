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

/** A signed-in owner with a `keys:verify` key for a service and a helper to mint more keys. */
export async function ownerWithKeys(base: string) {
  const user = await signupAndLogin(base);
  const service = await createKey(base, user.accessToken, {
    name: "service",
    scopes: ["keys:verify"],
  });
  return {
    ...user,
    serviceKey: service.key,
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
