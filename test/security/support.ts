/** Shared checks for the security and reliability suites: the spec's error JSON and raw HTTP. */
import { connect } from "node:net";
import { expect } from "vitest";
import { ERRORS, isErrorCode } from "../../src/core/errors.js";

/** Asserts SPEC §5: a 4xx whose body is `{error:{code,message,request_id}}` with the code's status. */
export function expectSpecError(status: number, body: unknown, context = ""): void {
  const where = context ? ` (${context})` : "";
  expect(status, `status${where}: ${JSON.stringify(body)?.slice(0, 300)}`).toBeGreaterThanOrEqual(
    400,
  );
  expect(status, `status${where}: ${JSON.stringify(body)?.slice(0, 300)}`).toBeLessThan(500);
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  expect(error, `error body${where}: ${String(body).slice(0, 300)}`).toBeTypeOf("object");
  const code = error!.code;
  expect(isErrorCode(code), `code ${String(code)}${where}`).toBe(true);
  expect(ERRORS[code as keyof typeof ERRORS].status, `status of ${String(code)}${where}`).toBe(
    status,
  );
  expect(typeof error!.message, `message${where}`).toBe("string");
  expect(error!.request_id, `request_id${where}`).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
}

export interface RawReply {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  raw: Buffer;
}

/**
 * Sends bytes as they are over a TCP socket (no client-side normalisation or header
 * checks) and reads one response. Rejects after `timeoutMs`, which the tests read as a hang.
 */
export function rawRequest(
  url: string,
  bytes: Buffer | string,
  timeoutMs = 5_000,
): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      const raw = Buffer.concat(chunks);
      const parsed = parseResponse(raw);
      if (!parsed) return false;
      clearTimeout(timer);
      socket.destroy();
      resolve(parsed);
      return true;
    };
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      finish();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (!finish()) {
        clearTimeout(timer);
        reject(
          new Error(
            `connection closed without a complete answer: ${Buffer.concat(chunks).toString("latin1").slice(0, 200)}`,
          ),
        );
      }
    });
    socket.on("connect", () => socket.write(bytes));
  });
}

function parseResponse(raw: Buffer): RawReply | null {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const lines = raw.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  const length = headers["content-length"]?.[0];
  if (length !== undefined) {
    if (body.length < Number(length)) return null;
    body = body.subarray(0, Number(length));
  } else if (headers["transfer-encoding"]?.[0] === "chunked") {
    const decoded = dechunk(body);
    if (!decoded) return null;
    body = decoded;
  }
  return { status, headers, body: body.toString("utf8"), raw };
}

function dechunk(body: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf("\r\n", at);
    if (lineEnd < 0) return null;
    const size = parseInt(body.subarray(at, lineEnd).toString("latin1"), 16);
    if (size === 0) return Buffer.concat(parts);
    if (body.length < lineEnd + 2 + size) return null;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export { authenticatorCode as totpAt } from "../helpers/authenticator.js";
import { authenticatorCode as totpAt } from "../helpers/authenticator.js";

/** A clock a test server reads through startTestServer({ now }); 5 s into a TOTP step. */
export function manualClock() {
  const clock = {
    ms: 60_000_000 * 30_000 + 5_000,
    now: () => clock.ms,
    advance(ms: number) {
      clock.ms += ms;
    },
  };
  return clock;
}

/** Turns 2FA on for a signed-in user; returns the TOTP secret and the 10 backup codes. */
export async function enableTwoFactor(
  base: string,
  accessToken: string,
  atMs: number,
): Promise<{ secret: string; backupCodes: string[] }> {
  const headers = { authorization: `Bearer ${accessToken}`, "content-type": "application/json" };
  const setup = await fetch(`${base}/v1/auth/2fa/setup`, {
    method: "POST",
    headers: { authorization: headers.authorization },
  });
  const { secret } = (await setup.json()) as { secret: string };
  if (setup.status !== 200) throw new Error(`2fa setup: ${setup.status}`);
  const verify = await fetch(`${base}/v1/auth/2fa/verify`, {
    method: "POST",
    headers,
    body: JSON.stringify({ code: totpAt(secret, atMs) }),
  });
  const body = (await verify.json()) as { backup_codes: string[] };
  if (verify.status !== 200)
    throw new Error(`2fa verify: ${verify.status} ${JSON.stringify(body)}`);
  return { secret, backupCodes: body.backup_codes };
}
