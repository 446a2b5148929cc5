import type { FastifyInstance } from "fastify";
import { Registry, collectDefaultMetrics } from "prom-client";
import { routeOf } from "./request.js";

const REQUESTS = "latchkey_http_requests_total";
const LATENCY = "latchkey_http_request_duration_seconds";
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** One (method, route, status) series: its count, latency sum and per-bucket counts. */
interface Series {
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  buckets: number[];
}

/**
 * Request counts and latencies by method, route and status, counted in plain numbers on the
 * request path and turned into Prometheus text only when scraped. prom-client's labelled
 * Counter and Histogram hash a label object on every observation (8 % of a verification's
 * CPU, bench/); process metrics still come from prom-client's registry.
 */
export class HttpMetrics {
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();

  observe(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.series.get(route);
    if (!byMethod) this.series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let series = byStatus.get(status);
    if (!series)
      byStatus.set(
        status,
        (series = { count: 0, sum: 0, buckets: BUCKETS.map(() => 0).concat(0) }),
      );
    series.count += 1;
    series.sum += seconds;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i += 1;
    series.buckets[i]! += 1;
  }

  /** The Prometheus text exposition of both metrics. */
  render(): string {
    const counts = [
      `# HELP ${REQUESTS} HTTP requests by method, route and status`,
      `# TYPE ${REQUESTS} counter`,
    ];
    const latency = [
      `# HELP ${LATENCY} HTTP request latency by method, route and status`,
      `# TYPE ${LATENCY} histogram`,
    ];
    for (const [route, byMethod] of this.series)
      for (const [method, byStatus] of byMethod)
        for (const [status, series] of byStatus) {
          const labels = `method="${escape(method)}",route="${escape(route)}",status="${status}"`;
          counts.push(`${REQUESTS}{${labels}} ${series.count}`);
          let cumulative = 0;
          BUCKETS.forEach((le, i) => {
            cumulative += series.buckets[i]!;
            latency.push(`${LATENCY}_bucket{le="${le}",${labels}} ${cumulative}`);
          });
          latency.push(`${LATENCY}_bucket{le="+Inf",${labels}} ${series.count}`);
          latency.push(`${LATENCY}_sum{${labels}} ${series.sum}`);
          latency.push(`${LATENCY}_count{${labels}} ${series.count}`);
        }
    return `${counts.join("\n")}\n\n${latency.join("\n")}\n`;
  }
}

/** Label values as the exposition format quotes them. */
function escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Prometheus metrics at GET /metrics: HTTP requests and latencies, and the process's own. */
export function registerMetrics(app: FastifyInstance): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "latchkey_" });
  const http = new HttpMetrics();
  // Callback form: no promise per request on the hot path.
  app.addHook("onResponse", (request, reply, done) => {
    // Unmatched paths share one label so a scanner cannot blow up the series count.
    http.observe(
      request.method,
      routeOf(request).url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    reply.header("content-type", registry.contentType);
    return `${http.render()}\n${await registry.metrics()}`;
  });
  return http;
}
