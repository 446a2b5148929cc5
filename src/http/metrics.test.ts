import { describe, expect, it } from "vitest";
import { HttpMetrics } from "./metrics.js";

describe("HttpMetrics", () => {
  it("renders counts and cumulative latency buckets per method, route and status", () => {
    const metrics = new HttpMetrics();
    metrics.observe("POST", "/v1/keys/verify", 200, 0.0004);
    metrics.observe("POST", "/v1/keys/verify", 200, 0.003);
    metrics.observe("POST", "/v1/keys/verify", 200, 9);
    metrics.observe("GET", "/v1/x", 404, 0.001);
    const text = metrics.render();
    const verify = 'method="POST",route="/v1/keys/verify",status="200"';
    expect(text).toContain(`latchkey_http_requests_total{${verify}} 3`);
    expect(text).toContain(
      'latchkey_http_requests_total{method="GET",route="/v1/x",status="404"} 1',
    );
    const bucket = (le: string) =>
      Number(
        new RegExp(
          `latchkey_http_request_duration_seconds_bucket\\{le="${le.replace("+", "\\+")}",${verify.replace(/[/.]/g, "\\$&")}\\} (\\d+)`,
        ).exec(text)?.[1],
      );
    expect([
      bucket("0.0005"),
      bucket("0.001"),
      bucket("0.005"),
      bucket("2.5"),
      bucket("+Inf"),
    ]).toEqual([1, 1, 2, 2, 3]);
    expect(text).toContain(`latchkey_http_request_duration_seconds_count{${verify}} 3`);
    expect(text).toMatch(new RegExp(`_sum\\{${verify.replace(/[/.]/g, "\\$&")}\\} 9\\.0034`));
    expect(text).toContain("# TYPE latchkey_http_request_duration_seconds histogram");
  });

  it("quotes label values as the exposition format requires", () => {
    const metrics = new HttpMetrics();
    metrics.observe("GET", 'a"b\\c', 200, 0.01);
    expect(metrics.render()).toContain('route="a\\"b\\\\c"');
  });
});
