import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  freshPostgres,
  growKeys,
  insertKeys,
  meterKeys,
  unmeterKeys,
  orgKeys,
  personalKeys,
  ORG_CLIENT_IP,
  keyRows,
  newKeys,
  stored,
  seedOverHttp,
  startLatchkey,
  type Seeded,
  type Store,
} from "./latchkey.js";
import { runLoad, type BenchRequest, type Generator } from "./load.js";
import { startChild, type Child } from "./processes.js";
import { topSelfTime, type HotFunction } from "./profile.js";
import type { CaseResult } from "./report.js";

export interface CaseEnv {
  root: string;
  work: string;
  generator: Generator;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  maxRequests: number;
  only: Set<string> | null;
  profile: Set<string>;
  databaseUrl: string;
  log: (line: string) => void;
}

/** User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds per thread name (`/proc/<pid>/task/<tid>/comm`): where a server's CPU went. */
function threadCpu(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const add = (name: string, seconds: number) => out.set(name, (out.get(name) ?? 0) + seconds);
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
      const main = Number(tid) === pid;
      const name = main ? "main" : readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      add(name, (Number(stat[11]) + Number(stat[12])) / 100);
      // The main thread's time in the kernel (its reads and writes of sockets, epoll).
      if (main) add("main sys", Number(stat[12]) / 100);
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** Stored keys in the "1 000 keys" cases: the verifier, the HTTP-made key and these. */
const SMALL = 1_000;
const LARGE = 1_000_000;
const SCOPE = "services:read";
const PLATFORM_API = "examples/platform-api/main.ts";
const E_KEYS = 10;
const FRESH_WARMUP_S = 2;

const verifyRequests = (seeded: Seeded, keys: string[], ip?: string): BenchRequest[] =>
  keys.map((key) => ({
    method: "POST",
    path: "/v1/keys/verify",
    headers: {
      authorization: `Bearer ${seeded.verifierKey}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(
      ip === undefined ? { key, scopes: [SCOPE] } : { key, scopes: [SCOPE], ip },
    ),
  }));

const bearerRequests = (path: string, tokens: string[]): BenchRequest[] =>
  tokens.map((token) => ({ method: "GET", path, headers: { authorization: `Bearer ${token}` } }));

/** Runs the selected cases in order, keeping results, notes and profile summaries. */
export class Cases {
  readonly results: CaseResult[] = [];
  readonly notes: string[] = [];
  readonly profiles: Record<string, HotFunction[]> = {};
  private readonly drops: (() => Promise<void>)[] = [];
  private readonly warmed = new WeakSet<Child>();

  constructor(private readonly env: CaseEnv) {}

  private wants(...ids: string[]): boolean {
    return this.env.only === null || ids.some((id) => this.env.only!.has(id));
  }

  /** Checks one request answers 200 (and `accept` holds), warms up, then measures. */
  async measure(
    id: string,
    title: string,
    server: Child,
    requests: BenchRequest[],
    accept: (body: any) => boolean = () => true,
    warmup = this.env.warmupSeconds,
  ): Promise<CaseResult> {
    // A process's first case also pays for its JIT and lazy compilation: warm it longer.
    if (!this.warmed.has(server)) warmup += FRESH_WARMUP_S;
    this.warmed.add(server);
    const url = server.url;
    const first = requests[0]!;
    const response = await fetch(url + first.path, {
      method: first.method,
      headers: first.headers,
      body: first.body,
    });
    const text = await response.text();
    if (response.status !== 200 || !accept(text ? JSON.parse(text) : null))
      throw new Error(`case ${id}: ${first.method} ${first.path} answered ${response.status}`);
    const options = {
      url,
      requests,
      connections: this.env.connections,
      workDir: this.env.work,
      maxRequests: this.env.maxRequests,
    };
    if (warmup > 0) await runLoad(this.env.generator, { ...options, seconds: warmup });
    const cpuBefore = cpuSeconds(server.process.pid);
    const threadsBefore = threadCpu(server.process.pid);
    const result = await runLoad(this.env.generator, { ...options, seconds: this.env.seconds });
    const cpu = cpuSeconds(server.process.pid) - cpuBefore;
    const threads = [...threadCpu(server.process.pid)]
      .map(([name, seconds]) => [name, seconds - (threadsBefore.get(name) ?? 0)] as const)
      .filter(([, seconds]) => seconds > 0)
      .map(([name, seconds]) => `${name} ${((seconds * 1e6) / result.requests).toFixed(1)}`);
    // CPU time the server spent per answer: steadier than req/s on a shared machine.
    const row: CaseResult = {
      id,
      title,
      ...result,
      server_cpu_us: (cpu * 1e6) / result.requests,
      thread_cpu_us: threads.join(", "),
    };
    this.results.push(row);
    this.env.log(
      `${id.padEnd(6)} ${Math.round(result.rps).toString().padStart(7)} req/s  p50 ${result.p50_ms.toFixed(2)} ms  p99 ${result.p99_ms.toFixed(2)} ms  errors ${result.errors}  CPU µs/req by thread: ${row.thread_cpu_us}`,
    );
    return row;
  }

  private skip(id: string, title: string, why: string): void {
    this.results.push({
      id,
      title,
      skipped: why,
      requests: 0,
      seconds: 0,
      rps: 0,
      p50_ms: 0,
      p99_ms: 0,
      max_ms: 0,
      errors: 0,
    });
    this.env.log(`${id.padEnd(6)} skipped: ${why}`);
  }

  async runAll(): Promise<void> {
    if (this.wants("a")) await this.bare();
    if (this.wants("a-post")) await this.barePost();
    if (this.wants("z", "z-get")) await this.fastifyFloor();
    if (this.wants("f")) await this.betterAuth();
    if (this.wants("b", "c", "d", "e", "iso", "b-1m", "b-lim", "b-org"))
      await this.latchkey({ kind: "sqlite", dataDir: join(this.env.work, "sqlite") });
    if (this.wants("pg-1k", "pg-1m")) {
      const pg = await freshPostgres(this.env.databaseUrl);
      if (!pg) {
        this.skip("pg-1k", "verify, PostgreSQL, 1 000 keys", "no PostgreSQL reachable");
        this.skip("pg-1m", "verify, PostgreSQL, 1 000 000 keys", "no PostgreSQL reachable");
      } else {
        this.drops.push(pg.drop);
        await this.latchkey({ kind: "postgres", url: pg.url, dataDir: join(this.env.work, "pg") });
      }
    }
    for (const id of this.env.profile) await this.profileCase(id);
  }

  async cleanup(): Promise<void> {
    for (const drop of this.drops.splice(0)) await drop().catch(() => undefined);
  }

  private node(script: string, env: NodeJS.ProcessEnv = {}, ipc = false): Promise<Child> {
    const args = script.endsWith(".ts") ? ["--import", "tsx", script] : [script];
    return startChild({
      name: script,
      command: process.execPath,
      args,
      cwd: this.env.root,
      env,
      ipc,
      // A whole line: a chunk boundary must not cut the URL short.
      ready: /(?:listening (\S+)|logins running)\n/,
      timeoutMs: 120_000,
    });
  }

  private async bare(): Promise<void> {
    const server = await this.node("bench/servers/bare.ts");
    await this.measure("a", "bare node:http answering {}", server, [{ method: "GET", path: "/" }]);
    await server.stop();
  }

  /** b's request shape (POST, JSON body, bearer header) against bare node:http. */
  private floorRequests(): BenchRequest[] {
    return newKeys(SMALL).map((key) => ({
      method: "POST" as const,
      path: "/v1/keys/verify",
      headers: { authorization: "Bearer floor", "content-type": "application/json" },
      body: JSON.stringify({ key, scopes: [SCOPE] }),
    }));
  }

  /** Case a-post: bare node:http reading and parsing b's JSON body (Node's own floor for b). */
  private async barePost(): Promise<void> {
    const server = await this.node("bench/servers/bare-post.ts");
    await this.measure(
      "a-post",
      "bare node:http: b's JSON POST read, parsed, hashed, answered",
      server,
      this.floorRequests(),
    );
    await server.stop();
  }

  /** Cases z and z-get: bare Fastify routes doing a verification's least work (the framework floor). */
  private async fastifyFloor(): Promise<void> {
    const server = await this.node("bench/servers/fastify-floor.ts");
    if (this.wants("z"))
      await this.measure(
        "z",
        "bare Fastify: JSON body, one SHA-256, one Map lookup",
        server,
        this.floorRequests(),
      );
    if (this.wants("z-get"))
      await this.measure(
        "z-get",
        "bare Fastify GET: bearer header, one SHA-256, one Map lookup",
        server,
        newKeys(SMALL).map((key) => ({
          method: "GET" as const,
          path: "/v1/auth/whoami",
          headers: { authorization: `Bearer ${key}` },
        })),
      );
    await server.stop();
  }

  private async betterAuth(): Promise<void> {
    const server = await this.node(
      "bench/servers/better-auth.mjs",
      { BENCH_DIR: this.env.work, BENCH_KEYS: "100" },
      true,
    );
    const { keys } = server.messages[0] as { keys: string[] };
    await this.measure(
      "f",
      "Better Auth 1.7.5 + api-key plugin, SQLite: verify x-api-key",
      server,
      keys.map((key) => ({ method: "GET", path: "/v1/whoami", headers: { "x-api-key": key } })),
      (body) => body?.valid === true,
    );
    await server.stop();
  }

  /** Seeds 1 000 keys (2 over HTTP), measures, then grows the table to 1 000 000 and re-measures. */
  private async latchkey(store: Store): Promise<void> {
    const pg = store.kind === "postgres";
    const tag = pg ? "PostgreSQL" : "SQLite";
    let server = await startLatchkey(this.env.root, store, { name: `latchkey ${tag}` });
    const seeded = await seedOverHttp(server.url);
    const keys = [...seeded.keys];
    const more = newKeys(SMALL - 2);
    keys.push(...more);
    await insertKeys(store, keyRows(seeded.userId, more.map(stored), 0));
    this.env.log(`${tag}: ${SMALL} keys stored, ${keys.length} presented in turn`);
    const verify = verifyRequests(seeded, keys);
    const valid = (body: any) => body?.valid === true;
    const small = pg ? "pg-1k" : "b";
    if (this.wants(small))
      await this.measure(
        small,
        `Latchkey POST /v1/keys/verify, ${tag}, 1 000 keys`,
        server,
        verify,
        valid,
      );
    if (!pg && this.wants("b-lim")) {
      // Right after b, so the pair is measured on the machine as it is then: b's keys, each
      // now with usage credits and one named limit (issue 20), on a fresh server (the first
      // one cached them without). Then the keys go back to plain for the cases that follow.
      await server.stop();
      await meterKeys(store, seeded.userId);
      server = await startLatchkey(this.env.root, store, { name: `latchkey ${tag} metered` });
      await this.measure(
        "b-lim",
        `Latchkey POST /v1/keys/verify, ${tag}, 1 000 keys with credits and one named limit`,
        server,
        verify,
        (body: any) => valid(body) && body.remaining !== null && body.ratelimits.length === 1,
      );
      await server.stop();
      await unmeterKeys(store, seeded.userId);
      server = await startLatchkey(this.env.root, store, { name: `latchkey ${tag}` });
    }
    if (!pg && this.wants("b-org")) {
      // Also right after b: the same keys, now an organization's, minted there by the seeded
      // user (an owner), with every policy a verification checks set (issue 16); the requests
      // name the caller's address, which the organization's allowlist admits.
      const org = await orgKeys(server.url, store, seeded);
      await server.stop();
      server = await startLatchkey(this.env.root, store, { name: `latchkey ${tag} org` });
      await this.measure(
        "b-org",
        `Latchkey POST /v1/keys/verify, ${tag}, 1 000 organization keys, every policy set`,
        server,
        verifyRequests(seeded, keys, ORG_CLIENT_IP),
        (body: any) => valid(body) && body.org_id === org,
      );
      await server.stop();
      await personalKeys(store, org, seeded.userId);
      server = await startLatchkey(this.env.root, store, { name: `latchkey ${tag}` });
    }
    if (!pg) await this.sqliteOnly(server, seeded, keys, verify);
    await server.stop();

    const large = pg ? "pg-1m" : "b-1m";
    if (!this.wants(large)) return;
    const t0 = Date.now();
    const added = await growKeys(store, seeded.userId, LARGE - SMALL);
    this.env.log(
      `${tag}: +${added} keys in ${((Date.now() - t0) / 1000).toFixed(1)} s (one transaction)`,
    );
    server = await startLatchkey(this.env.root, store, { name: `latchkey ${tag} 1M` });
    await this.measure(
      large,
      `Latchkey POST /v1/keys/verify, ${tag}, 1 000 000 keys`,
      server,
      verify,
      valid,
    );
    await server.stop();
  }

  private async sqliteOnly(server: Child, seeded: Seeded, keys: string[], verify: BenchRequest[]) {
    if (this.wants("c"))
      await this.measure(
        "c",
        "Latchkey GET /v1/auth/whoami, Bearer API key",
        server,
        bearerRequests("/v1/auth/whoami", keys),
      );
    if (this.wants("d"))
      await this.measure(
        "d",
        "Latchkey GET /v1/auth/whoami, Bearer JWT",
        server,
        bearerRequests("/v1/auth/whoami", [seeded.accessToken]),
      );
    if (this.wants("iso")) await this.isolation(server, seeded, verify);
    if (this.wants("e")) await this.platformApi(server, seeded, keys);
  }

  private async isolation(server: Child, seeded: Seeded, verify: BenchRequest[]): Promise<void> {
    const logins = await this.node(
      "bench/servers/logins.ts",
      { BENCH_URL: server.url, BENCH_EMAIL: seeded.email, BENCH_PASSWORD: seeded.password },
      true,
    );
    const row = await this.measure(
      "iso",
      "b while 20 concurrent argon2id logins run",
      server,
      verify,
      (body) => body?.valid === true,
      1,
    );
    await logins.stop();
    const counts = logins.messages[0] as
      { ok: number; failed: number; failures: Record<string, number>; seconds: number } | undefined;
    if (counts) {
      row.extra = {
        logins_ok: counts.ok,
        logins_failed: counts.failed,
        logins_per_s: Math.round(counts.ok / counts.seconds),
      };
      const why = Object.entries(counts.failures).map(([reason, n]) => `${reason}: ${n}`);
      this.env.log(
        `iso    logins during the case: ${counts.ok} ok, ${counts.failed} failed${why.length ? ` (${why.join(", ")})` : ""}`,
      );
    }
  }

  /** Case e: the SDK's Fastify guard in front of GET /v1/services, its cache warm. */
  private async platformApi(server: Child, seeded: Seeded, keys: string[]): Promise<void> {
    const title = "SDK Fastify guard (examples/platform-api) GET /v1/services, cache warm";
    if (!existsSync(join(this.env.root, PLATFORM_API)))
      return this.skip("e", title, "examples/platform-api does not exist yet");
    const api = await this.startPlatformApi(server, seeded);
    try {
      // Ten keys in turn: each is revisited within the verifier's cache TTL, so the case
      // measures the guard with its cache warm (not Latchkey's verify round trip).
      const warmKeys = keys.slice(0, E_KEYS);
      await this.measure("e", title, api, bearerRequests("/v1/services", warmKeys), (body) =>
        Array.isArray(body?.services),
      );
    } finally {
      await api.stop();
    }
  }

  private startPlatformApi(latchkey: Child, seeded: Seeded, profileDir?: string): Promise<Child> {
    const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
    return startChild({
      name: "platform-api",
      command: process.execPath,
      args: [...profile, "--import", "tsx", PLATFORM_API],
      cwd: this.env.root,
      env: {
        LATCHKEY_URL: latchkey.url,
        LATCHKEY_API_KEY: seeded.verifierKey,
        HOST: "127.0.0.1",
        PORT: "0",
      },
      ready: /listening on (http:\/\/\S+) /,
      timeoutMs: 60_000,
    });
  }

  /** A dedicated, profiled server for one case: no warm-up, the whole run sampled. */
  private async profileCase(id: string): Promise<void> {
    const store: Store = { kind: "sqlite", dataDir: join(this.env.work, `profile-${id}`) };
    let server = await startLatchkey(this.env.root, store, { name: `profile ${id}` });
    const seeded = await seedOverHttp(server.url);
    const keys = [...seeded.keys];
    const more = newKeys(SMALL - 2);
    keys.push(...more);
    await insertKeys(store, keyRows(seeded.userId, more.map(stored), 0));
    if (id === "b-org") await orgKeys(server.url, store, seeded);
    await server.stop();
    if (id === "b-lim") await meterKeys(store, seeded.userId);
    const dir = join(this.env.root, "bench/results");
    const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
    // Case e profiles the platform-api process (the SDK), the others Latchkey itself.
    const sdk = id === "e";
    server = await startLatchkey(this.env.root, store, {
      name: `profile ${id}`,
      profileDir: sdk ? undefined : dir,
    });
    const target = sdk ? await this.startPlatformApi(server, seeded, dir) : server;
    const requests =
      id === "c"
        ? bearerRequests("/v1/auth/whoami", keys)
        : id === "d"
          ? bearerRequests("/v1/auth/whoami", [seeded.accessToken])
          : sdk
            ? bearerRequests("/v1/services", keys.slice(0, E_KEYS))
            : verifyRequests(seeded, keys, id === "b-org" ? ORG_CLIENT_IP : undefined);
    const results = this.results.length;
    await this.measure(`${id}-profiled`, `${id} under --cpu-prof`, target, requests);
    this.results.splice(results); // profiling overhead: not a result
    await target.stop();
    await server.stop();
    const file = readdirSync(dir)
      // The main thread's profile (thread 0): tsx's loader thread writes one too.
      .filter((f) => /\.0\.\d+\.cpuprofile$/.test(f) && !before.has(f))
      .map((f) => join(dir, f))
      .sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs)[0];
    if (!file) return this.env.log(`profile ${id}: no .cpuprofile written`);
    this.profiles[id] = topSelfTime(file, 25, this.env.root);
    this.notes.push(
      `profile of case ${id} (${file.replace(this.env.root + "/", "")}), top self time:\n` +
        this.profiles[id]
          .map((h) => `  ${String(h.self_pct).padStart(5)}%  ${h.function}  ${h.where}`)
          .join("\n"),
    );
  }
}
