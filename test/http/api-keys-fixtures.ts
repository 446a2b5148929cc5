/** Shared steps of the API-key suites: a signed-in user, keys, projects, verification. */
import { expect } from "vitest";
import type { client } from "../helpers/http.js";
import { signupAndLogin } from "../helpers/http.js";
import type { TestServer } from "../helpers/server.js";

export type Api = ReturnType<typeof client>;

export interface Account {
  userId: string;
  email: string;
  /** The user's session access token. */
  token: string;
}

export async function account(server: TestServer): Promise<Account> {
  const user = await signupAndLogin(server.url);
  return { userId: user.userId, email: user.email, token: user.accessToken };
}

/** Creates a key and returns the create response (with the secret). */
export async function createKey(
  api: Api,
  token: string,
  body: Record<string, unknown> = {},
): Promise<any> {
  const reply = await api.post(
    "/v1/api-keys",
    { name: "ci", scopes: ["services:read"], ...body },
    { token },
  );
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body;
}

/**
 * A platform service's credential: a service account (staff set its `service` flag, as a
 * platform does for its own services) and that account's `keys:verify` key.
 */
export async function serviceKey(
  server: TestServer,
  api: Api,
  staffToken: string,
): Promise<string> {
  const service = await account(server);
  await adminPatch(api, staffToken, service.userId, { service: true, plan: "enterprise" });
  return (await createKey(api, service.token, { name: "verifier", scopes: ["keys:verify"] })).key;
}

export async function verify(api: Api, verifier: string, body: Record<string, unknown>) {
  const reply = await api.post("/v1/keys/verify", body, { token: verifier });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}

/** Staff (the first account of a server) changes a user: plan, role, staff, disabled. */
export async function adminPatch(
  api: Api,
  staffToken: string,
  userId: string,
  patch: Record<string, unknown>,
): Promise<void> {
  const reply = await api.patch(`/v1/admin/users/${userId}`, patch, { token: staffToken });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
}

/** A clock tests move by hand: no sleeps. */
export function manualClock(start = Date.now()) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}
