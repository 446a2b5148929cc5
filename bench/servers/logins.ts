/**
 * Isolation load: `BENCH_LOGIN_CONCURRENCY` (20) clients signing in over and over (argon2id
 * verification on the server) while the bench measures key verification. Own process, so
 * its HTTP client does not share the load generator's CPU time slice accounting.
 * Env: BENCH_URL, BENCH_EMAIL, BENCH_PASSWORD. On SIGTERM reports counts over IPC.
 */
const url = process.env.BENCH_URL!;
const body = JSON.stringify({
  email: process.env.BENCH_EMAIL,
  password: process.env.BENCH_PASSWORD,
});
const concurrency = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? "20");
let ok = 0;
let failed = 0;
let running = true;
const started = performance.now();

async function loop(): Promise<void> {
  while (running) {
    try {
      const response = await fetch(`${url}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      await response.arrayBuffer();
      if (response.status === 200) ok++;
      else failed++;
    } catch {
      failed++;
    }
  }
}

const loops = Array.from({ length: concurrency }, () => loop());
process.stdout.write("logins running\n");
process.once("SIGTERM", () => {
  running = false;
  const seconds = (performance.now() - started) / 1000;
  process.send!({ ok, failed, seconds }, () => process.exit(0));
});
void Promise.all(loops);
