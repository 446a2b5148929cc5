import { expect } from "vitest";

/** A tiny JSON client for tests: status, parsed body and headers of a real HTTP call. */
export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  raw?: string;
}

export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let payload: string | undefined;
  if (options.raw !== undefined) payload = options.raw;
  else if (options.body !== undefined) payload = JSON.stringify(options.body);
  if (payload !== undefined && !headers["content-type"])
    headers["content-type"] = "application/json";
  const response = await fetch(base + path, { method, headers, body: payload });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

export function client(base: string) {
  return {
    get: <T = any>(path: string, options?: CallOptions) => call<T>(base, "GET", path, options),
    post: <T = any>(path: string, body?: unknown, options?: CallOptions) =>
      call<T>(base, "POST", path, { ...options, body }),
    patch: <T = any>(path: string, body?: unknown, options?: CallOptions) =>
      call<T>(base, "PATCH", path, { ...options, body }),
    put: <T = any>(path: string, body?: unknown, options?: CallOptions) =>
      call<T>(base, "PUT", path, { ...options, body }),
    delete: <T = any>(path: string, options?: CallOptions) =>
      call<T>(base, "DELETE", path, options),
  };
}

let counter = 0;
export function uniqueEmail(tag = "user"): string {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now()}-${counter}@example.test`;
}

export const PASSWORD = "a-long-and-unusual-passphrase";

/** Signs up (and logs in) a user; returns their tokens and id. */
export async function signupAndLogin(base: string, email = uniqueEmail()) {
  const api = client(base);
  const signup = await api.post("/v1/auth/signup", { email, password: PASSWORD });
  if (signup.status !== 201)
    throw new Error(`signup failed: ${signup.status} ${JSON.stringify(signup.body)}`);
  const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
  if (login.status !== 200)
    throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return {
    email,
    userId: signup.body.user.id as string,
    accessToken: login.body.access_token as string,
    refreshToken: login.body.refresh_token as string,
  };
}

/** Asserts an error answer (SPEC §5): this status with this `code` in its `{error}` body. */
export function expectError(
  reply: { status: number; body: any },
  status: number,
  code: string,
  context = "",
): void {
  expect(
    { status: reply.status, code: reply.body?.error?.code },
    `${context}${context ? ": " : ""}${JSON.stringify(reply.body)?.slice(0, 300)}`,
  ).toEqual({ status, code });
}
