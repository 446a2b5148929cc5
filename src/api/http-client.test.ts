import { describe, expect, it } from "vitest";
import { LatchkeyApiError, LatchkeyNetworkError, requestJson, type Fetch } from "./http-client.js";

interface Seen {
  url: string;
  init: RequestInit;
}

/** A fetch that answers `response` (or throws `error`) and remembers what it was asked. */
function fakeFetch(answer: () => Response | Promise<Response>): { fetch: Fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(url), init: init ?? {} });
    return answer();
  }) as Fetch;
  return { fetch, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("requestJson", () => {
  it("sends JSON with the bearer and headers, and resolves with the parsed answer", async () => {
    const { fetch, seen } = fakeFetch(() => json(200, { ok: 1 }));
    const answer = await requestJson<{ ok: number }>({
      method: "POST",
      url: "http://lk.test/v1/x",
      body: { a: 1 },
      bearer: "lk_live_secret",
      headers: { "user-agent": "test" },
      fetch,
    });
    expect(answer).toEqual({ ok: 1 });
    const headers = seen[0]!.init.headers as Record<string, string>;
    expect(headers).toMatchObject({
      accept: "application/json",
      "content-type": "application/json",
      authorization: "Bearer lk_live_secret",
      "user-agent": "test",
    });
    expect(seen[0]!.init.body).toBe('{"a":1}');
  });

  it("sends no body, content type or authorization when there are none; 204 is undefined", async () => {
    const { fetch, seen } = fakeFetch(() => new Response(null, { status: 204 }));
    expect(await requestJson({ method: "DELETE", url: "http://lk.test/v1/x", fetch })).toBe(
      undefined,
    );
    const headers = seen[0]!.init.headers as Record<string, string>;
    expect(headers.authorization).toBeUndefined();
    expect(headers["content-type"]).toBeUndefined();
    expect(seen[0]!.init.body).toBeUndefined();
  });

  it("reads the spec's error JSON into one error: status, code, message, details, request id", async () => {
    const body = {
      error: {
        code: "invalid_request",
        message: "the request is not valid",
        request_id: "req_abc12345",
        details: [{ field: "scopes.0", message: "unknown scope" }],
        retry_after: 7,
      },
    };
    const { fetch } = fakeFetch(() => json(400, body));
    const error = await rejection(requestJson({ method: "GET", url: "http://lk.test/", fetch }));
    expect(error).toBeInstanceOf(LatchkeyApiError);
    const api = error as LatchkeyApiError;
    expect(api.name).toBe("LatchkeyApiError");
    expect([api.status, api.code, api.message, api.requestId]).toEqual([
      400,
      "invalid_request",
      "the request is not valid",
      "req_abc12345",
    ]);
    expect(api.details).toEqual(body.error.details);
    expect(api.retryAfter).toBe(7);
    expect(api.fromServer).toBe(true);
    expect(api.body).toEqual(body.error);
    expect(api.fieldMessage("scopes")).toBe("unknown scope");
    expect(api.fieldMessage("name")).toBeNull();
  });

  it("carries mfa_token and required, and falls back to the headers for retry and request id", async () => {
    const { fetch } = fakeFetch(() =>
      json(
        429,
        {
          error: { code: "rate_limited", message: "slow down", required: ["a:b"], mfa_token: "m" },
        },
        { "retry-after": "12", "x-request-id": "req_fromheader" },
      ),
    );
    const error = (await rejection(
      requestJson({ method: "GET", url: "http://lk.test/", fetch }),
    )) as LatchkeyApiError;
    expect(error.code).toBe("rate_limited");
    expect(error.retryAfter).toBe(12);
    expect(error.requestId).toBe("req_fromheader");
    expect(error.required).toEqual(["a:b"]);
    expect(error.mfaToken).toBe("m");
  });

  it("turns an error answer that is not the spec's JSON into `internal`, marked as not from the server", async () => {
    const { fetch } = fakeFetch(() => new Response("<html>bad gateway</html>", { status: 502 }));
    const error = (await rejection(
      requestJson({ method: "GET", url: "http://lk.test/", fetch }),
    )) as LatchkeyApiError;
    expect(error).toBeInstanceOf(LatchkeyApiError);
    expect([error.status, error.code, error.fromServer]).toEqual([502, "internal", false]);
    expect(error.message).toBe("unexpected answer from Latchkey (HTTP 502)");
  });

  it("keeps a failure to reach the server apart from an answer, with its cause", async () => {
    const cause = new TypeError("fetch failed");
    const { fetch } = fakeFetch(() => {
      throw cause;
    });
    const error = (await rejection(
      requestJson({ method: "GET", url: "http://lk.test/", fetch, where: "http://lk.test" }),
    )) as LatchkeyNetworkError;
    expect(error).toBeInstanceOf(LatchkeyNetworkError);
    expect(error).not.toBeInstanceOf(LatchkeyApiError);
    expect(error.failure).toBe("unreachable");
    expect(error.message).toBe("cannot reach Latchkey at http://lk.test");
    expect(error.cause).toBe(cause);
  });

  it("calls a successful answer that is not JSON a network failure (not_json)", async () => {
    const { fetch } = fakeFetch(() => new Response("hello", { status: 200 }));
    const error = (await rejection(
      requestJson({ method: "GET", url: "http://lk.test/", fetch }),
    )) as LatchkeyNetworkError;
    expect(error).toBeInstanceOf(LatchkeyNetworkError);
    expect(error.failure).toBe("not_json");
  });

  it("passes timeout, credentials and redirect through to fetch", async () => {
    const { fetch, seen } = fakeFetch(() => json(200, {}));
    await requestJson({
      method: "GET",
      url: "/v1/x",
      timeoutMs: 5000,
      credentials: "same-origin",
      redirect: "manual",
      fetch,
    });
    expect(seen[0]!.init.signal).toBeInstanceOf(AbortSignal);
    expect(seen[0]!.init.credentials).toBe("same-origin");
    expect(seen[0]!.init.redirect).toBe("manual");
  });
});
