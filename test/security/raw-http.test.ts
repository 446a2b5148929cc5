/**
 * What a browser or fetch() would never send, over a raw TCP socket: CR/LF and NUL in
 * header values, invalid UTF-8 in the request line, path traversal that a URL parser would
 * normalise away, lying Content-Length, oversized headers and bodies. Each gets the spec's
 * JSON error (4xx), nothing is echoed into a response header, and the server stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { expectSpecError, parseJson, rawRequest, type RawReply } from "./support.js";

function request(lines: string[], body: Buffer | string = ""): Buffer {
  return Buffer.concat([
    Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"),
    typeof body === "string" ? Buffer.from(body, "latin1") : body,
  ]);
}

function expectNoInjection(reply: RawReply): void {
  expect(reply.headers["set-cookie"]).toBeUndefined();
  expect(reply.headers["x-injected"]).toBeUndefined();
  expect(reply.raw.toString("latin1")).not.toMatch(/\r\n(Set-Cookie|X-Injected):/i);
}

describe("raw HTTP: header injection, traversal and broken framing", () => {
  let server: TestServer;
  let host: string;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    host = new URL(server.url).host;
    token = (await signupAndLogin(server.url, uniqueEmail("raw"))).accessToken;
  });
  afterAll(async () => server?.close());

  async function expectRefused(bytes: Buffer, context: string): Promise<RawReply> {
    const reply = await rawRequest(server.url, bytes);
    expectSpecError(reply.status, parseJson(reply.body), context);
    expectNoInjection(reply);
    return reply;
  }

  it("refuses CR, LF and NUL smuggled into header values", async () => {
    const values = [
      "abc\rSet-Cookie: pwned=1",
      "abc\nX-Injected: 1",
      "abc\r\n Set-Cookie: pwned=1",
      "Bearer x\rX-Injected: 1",
      "abc\u0000def",
    ];
    for (const value of values) {
      for (const header of ["X-Request-Id", "Authorization", "User-Agent", "Content-Type"]) {
        const bytes = request([
          `GET /v1/auth/whoami HTTP/1.1`,
          `Host: ${host}`,
          `${header}: ${value}`,
          "Connection: close",
        ]);
        await expectRefused(bytes, `${header}: ${JSON.stringify(value)}`);
      }
    }
  });

  it("never reflects a hostile X-Request-Id, even a well-formed request's", async () => {
    const reply = await rawRequest(
      server.url,
      request([
        `GET /healthz HTTP/1.1`,
        `Host: ${host}`,
        "X-Request-Id: <script>%0d%0aSet-Cookie:x",
        "Connection: close",
      ]),
    );
    expect(reply.status).toBe(200);
    expect(reply.headers["x-request-id"]![0]).toMatch(/^req_[A-Za-z0-9_-]+$/);
    expectNoInjection(reply);
  });

  it("keeps encoded CR/LF in the path and query out of the response headers", async () => {
    for (const target of [
      "/v1/api-keys/%0d%0aSet-Cookie:%20pwned=1",
      "/v1/auth/sessions/x%0d%0aX-Injected:%201",
      "/v1/audit-log?event=%0d%0aSet-Cookie:%20pwned=1",
      "/nowhere%0d%0aSet-Cookie:%20pwned=1",
    ]) {
      const reply = await rawRequest(
        server.url,
        request([
          `GET ${target} HTTP/1.1`,
          `Host: ${host}`,
          `Authorization: Bearer ${token}`,
          "Connection: close",
        ]),
      );
      // A free-text filter may legitimately match nothing (200); ids are refused (4xx).
      if (reply.status !== 200) expectSpecError(reply.status, parseJson(reply.body), target);
      expect(reply.status).toBeLessThan(500);
      expectNoInjection(reply);
    }
  });

  it("answers path traversal in ids, raw and encoded, with a spec 4xx and no file", async () => {
    for (const target of [
      "/v1/auth/sessions/../../../../etc/passwd",
      "/v1/auth/sessions/..%2f..%2f..%2fetc%2fpasswd",
      "/v1/api-keys/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/v1/api-keys/..\\..\\windows\\win.ini",
      "/v1/admin/users/%00",
      "/../../../etc/passwd",
      "//etc/passwd",
      "/v1/api-keys/' OR '1'='1".replaceAll(" ", "%20"),
    ]) {
      const reply = await rawRequest(
        server.url,
        request([
          `GET ${target} HTTP/1.1`,
          `Host: ${host}`,
          `Authorization: Bearer ${token}`,
          "Connection: close",
        ]),
      );
      expectSpecError(reply.status, parseJson(reply.body), target);
      expect(reply.body).not.toContain("root:");
    }
  });

  it("answers invalid UTF-8 and malformed percent-encoding in the request line", async () => {
    const targets = [
      Buffer.from([0x2f, 0x76, 0x31, 0x2f, 0xff, 0xfe]),
      Buffer.from("/v1/api-keys/%E0%A4%A"),
      Buffer.from("/v1/api-keys/%"),
      Buffer.from("/v1/auth/sessions/%ff%fe%fd"),
    ];
    for (const target of targets) {
      const bytes = Buffer.concat([
        Buffer.from("GET "),
        target,
        Buffer.from(
          ` HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        ),
      ]);
      const reply = await expectRefused(bytes, target.toString("hex"));
      // The bad bytes are not echoed back.
      expect(reply.body).not.toContain("%E0%A4%A");
    }
  });

  it("answers oversized headers with payload_too_large and oversized bodies with 413", async () => {
    const big = await expectRefused(
      request([
        `GET /healthz HTTP/1.1`,
        `Host: ${host}`,
        `X-Big: ${"a".repeat(80_000)}`,
        "Connection: close",
      ]),
      "80 KB header",
    );
    expect(JSON.parse(big.body).error.code).toBe("payload_too_large");

    const body = JSON.stringify({ email: "a@b.c", password: "x".repeat(70_000) });
    const declared = await expectRefused(
      request(
        [
          `POST /v1/auth/login HTTP/1.1`,
          `Host: ${host}`,
          "Content-Type: application/json",
          `Content-Length: ${body.length}`,
          "Connection: close",
        ],
        body,
      ),
      "70 KB body",
    );
    expect(JSON.parse(declared.body).error.code).toBe("payload_too_large");

    // The same body in chunks, with no length announced up front.
    const chunked = await expectRefused(
      request(
        [
          `POST /v1/auth/login HTTP/1.1`,
          `Host: ${host}`,
          "Content-Type: application/json",
          "Transfer-Encoding: chunked",
          "Connection: close",
        ],
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      ),
      "70 KB chunked body",
    );
    expect(JSON.parse(chunked.body).error.code).toBe("payload_too_large");
  });

  it("answers broken framing: both Content-Length and chunked, bad chunk sizes, a short body", async () => {
    const cases: [string, Buffer][] = [
      [
        "CL and TE",
        request(
          [
            `POST /v1/auth/login HTTP/1.1`,
            `Host: ${host}`,
            "Content-Type: application/json",
            "Content-Length: 4",
            "Transfer-Encoding: chunked",
            "Connection: close",
          ],
          "2\r\n{}\r\n0\r\n\r\n",
        ),
      ],
      [
        "bad chunk size",
        request(
          [
            `POST /v1/auth/login HTTP/1.1`,
            `Host: ${host}`,
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
            "Connection: close",
          ],
          "zz\r\n{}\r\n0\r\n\r\n",
        ),
      ],
      [
        "two Content-Lengths",
        request(
          [
            `POST /v1/auth/login HTTP/1.1`,
            `Host: ${host}`,
            "Content-Type: application/json",
            "Content-Length: 2",
            "Content-Length: 3",
            "Connection: close",
          ],
          "{}",
        ),
      ],
      ["no Host, HTTP/1.1", request(["GET /healthz HTTP/1.1", "Connection: close"])],
      ["garbage request line", request(["\u0001\u0002 / HTTP/1.1", `Host: ${host}`])],
    ];
    for (const [name, bytes] of cases) await expectRefused(bytes, name);

    // A body shorter than its Content-Length: the server waits, then gives up; it never hangs forever.
    const short = await rawRequest(
      server.url,
      request(
        [
          `POST /v1/auth/login HTTP/1.1`,
          `Host: ${host}`,
          "Content-Type: application/json",
          "Content-Length: 100",
        ],
        '{"email":',
      ),
      1_000,
    ).catch((error: Error) => error);
    if (!(short instanceof Error))
      expectSpecError(short.status, parseJson(short.body), "short body");
  });

  it("is still up afterwards", async () => {
    const reply = await rawRequest(
      server.url,
      request([`GET /healthz HTTP/1.1`, `Host: ${host}`, "Connection: close"]),
    );
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ status: "ok" });
  });
});
