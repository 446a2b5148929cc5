/**
 * Isolation load: `BENCH_LOGIN_CONCURRENCY` (20) clients signing in over and over (argon2id
 * verification on the server) while the bench measures key verification. Own process, so
 * its HTTP client does not share the load generator's CPU time slice accounting.
 * Env: BENCH_URL, BENCH_EMAIL, BENCH_PASSWORD. On SIGTERM reports counts over IPC.
 */
const url = process.env.BENCH_URL!;
const password = process.env.BENCH_PASSWORD!;
const concurrency = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? "20");
// At most 5 sign-ins in flight per account: Latchkey refuses (429) attempts beyond its
// per-account limit (10) that are in flight at once, and a refused attempt costs no argon2id.
const accounts = [process.env.BENCH_EMAIL!];
for (let i = 1; i < Math.ceil(concurrency / 5); i++) {
  const email = `login-${i}-${process.pid}@bench.test`;
  const response = await fetch(`${url}/v1/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 201) throw new Error(`signup for the login load: ${response.status}`);
  accounts.push(email);
}
let ok = 0;
let failed = 0;
/** Why logins failed: HTTP status, or the fetch error's name. */
const failures: Record<string, number> = {};
let running = true;
const started = performance.now();

async function loop(account: string): Promise<void> {
  const body = JSON.stringify({ email: account, password });
  while (running) {
    try {
      const response = await fetch(`${url}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      await response.arrayBuffer();
      if (response.status === 200) ok++;
      else {
        failed++;
        failures[response.status] = (failures[response.status] ?? 0) + 1;
      }
    } catch (error) {
      failed++;
      const name = (error as Error).name;
      failures[name] = (failures[name] ?? 0) + 1;
    }
  }
}

const loops = Array.from({ length: concurrency }, (_, i) => loop(accounts[i % accounts.length]!));
process.stdout.write("logins running\n");
process.once("SIGTERM", () => {
  running = false;
  const seconds = (performance.now() - started) / 1000;
  process.send!({ ok, failed, failures, seconds }, () => process.exit(0));
});
void Promise.all(loops);
