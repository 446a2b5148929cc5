import { mkdirSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { STORES } from "../helpers/stores.js";
import { launchChromium, type Browser } from "./chromium.js";

const store = STORES[STORES.length - 1]!;
const POLL = { timeout: 10_000, interval: 100 };
// Saved under test-results/ (not tracked), as the other browser tests do.
const SHOTS = join(process.cwd(), "test-results", "screenshots");

interface Received {
  body: string;
  headers: Record<string, string>;
  answered: number;
}

/** A receiver on 127.0.0.1 that keeps what it was sent and answers `status`. */
async function startReceiver() {
  const received: Received[] = [];
  const state = { status: 200 };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({
        body: Buffer.concat(chunks).toString("utf8"),
        headers: plain(request.headers),
        answered: state.status,
      });
      response.writeHead(state.status, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/latchkey`,
    received,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function plain(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (typeof value === "string") out[name] = value;
  return out;
}

/** Standard Webhooks verification, as a receiver does it: the payload, or the reason it fails. */
function verified(secret: string, delivery: Received): { type: string } {
  return new Webhook(secret).verify(delivery.body, delivery.headers) as { type: string };
}

/**
 * Webhooks and leaked keys in the portal (SPEC §11), in a real Chromium against a real
 * receiver: an endpoint added, its secret shown once and verifying what arrives, the
 * delivery log through success, failure and redelivery; a quarantined key released.
 */
describe(`portal webhooks in Chromium [${store}]`, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  // The server's clock: real time plus an offset the leak test moves to need step-up.
  let offset = 0;
  const now = () => Date.now() + offset;
  const email = "hedy@example.com"; // each run has a fresh database
  const problems: string[] = [];

  /** A call as the signed-in browser: its cookies, plus the CSRF header a script can read. */
  const asUser = async (method: "GET" | "POST", path: string, data?: unknown) => {
    const csrf = (await browser.context.cookies()).find((c) => c.name === "lk_csrf")?.value ?? "";
    const response = await page.request.fetch(server.url + path, {
      method,
      data,
      headers: { "x-csrf-token": csrf },
    });
    return { status: response.status(), body: await response.json() };
  };
  const shoot = async (name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const heading = (name: string | RegExp) => page.getByRole("heading", { level: 1, name });

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer({
      store,
      now,
      env: { LATCHKEY_WEBHOOKS_ALLOW_PRIVATE: "true", LATCHKEY_WEBHOOKS_POLL_MS: "200" },
    });
    expect(
      (await client(server.url).post("/v1/auth/signup", { email, password: PASSWORD })).status,
    ).toBe(201);
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${server.url}/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await heading("API keys").waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await receiver?.close();
  });

  it("adds an endpoint whose secret, shown once, verifies what the receiver gets; logs success, failure and redelivery", async () => {
    await page.getByRole("link", { name: "Webhooks" }).click();
    await heading("Webhooks").waitFor();
    await page.getByText("No webhook endpoints yet").waitFor();
    await page.getByRole("button", { name: "Add endpoint" }).first().click();
    const add = page.getByRole("dialog", { name: "Add endpoint" });
    // Refusals are shown beside the field at fault.
    await add.getByLabel("Endpoint URL").fill("ftp://example.com/hooks");
    await add.getByRole("button", { name: "Add endpoint" }).click();
    await add.getByText("Choose at least one event").waitFor();
    await add.getByRole("checkbox", { name: /^key\.created/ }).check();
    await add.getByRole("checkbox", { name: /^key\.leaked/ }).check();
    await add.getByRole("button", { name: "Add endpoint" }).click();
    await add.getByText(/http:\/\/ or https:\/\//).waitFor();
    await add.getByLabel("Endpoint URL").fill(receiver.url);
    await add.getByLabel("Description (optional)").fill("Audit relay");
    await shoot("webhook-add");
    await add.getByRole("button", { name: "Add endpoint" }).click();

    const shown = page.getByRole("dialog", { name: "Endpoint added" });
    await shown.getByText("You will not see it again").waitFor();
    await shoot("webhook-secret");
    const secret = (await shown.getByTestId("webhook-secret").innerText()).trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    await shown.getByRole("button", { name: "I've copied it" }).click();
    await heading(receiver.url).waitFor();
    const list = await asUser("GET", "/v1/webhooks");
    expect(list.body.webhooks).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(6));
    const endpointId = list.body.webhooks[0].id as string;
    expect(list.body.webhooks[0]).toMatchObject({ description: "Audit relay", enabled: true });

    // A test event arrives signed with that secret and shows as delivered.
    const rows = page.getByRole("table", { name: "Deliveries" }).locator("tbody tr");
    await page.getByRole("button", { name: "Send test event" }).click();
    await expect.poll(() => rows.getAttribute("data-status"), POLL).toBe("delivered");
    expect(await rows.first().innerText()).toMatch(/webhook\.test[\s\S]*200/);
    expect(receiver.received).toHaveLength(1);
    expect(verified(secret, receiver.received[0]!).type).toBe("webhook.test");

    // The receiver fails: the attempt is logged with its status, and retried.
    receiver.state.status = 500;
    await page.getByRole("button", { name: "Send test event" }).click();
    await expect.poll(() => rows.count(), POLL).toBe(2);
    const failing = rows.first();
    await expect.poll(() => failing.innerText(), POLL).toMatch(/Retrying[\s\S]*500/);
    await failing.getByRole("button", { name: "Attempts" }).click();
    const attempts = page.getByRole("dialog", { name: "Delivery of webhook.test" });
    await attempts.getByRole("table", { name: "Attempts" }).getByText("500").first().waitFor();
    await shoot("webhook-attempts");
    const failedEventId = receiver.received[1]!.headers["webhook-id"];

    // Fixed, redelivered: a new delivery of the same event (same webhook-id), delivered.
    receiver.state.status = 200;
    await attempts.getByRole("button", { name: "Redeliver" }).click();
    await attempts.waitFor({ state: "detached" });
    await expect.poll(() => rows.count(), POLL).toBe(3);
    await expect.poll(() => rows.first().getAttribute("data-status"), POLL).toBe("delivered");
    const redelivered = receiver.received.filter(
      (r) => r.headers["webhook-id"] === failedEventId && r.answered === 200,
    );
    expect(redelivered.length).toBeGreaterThanOrEqual(1);
    expect(verified(secret, redelivered[0]!).type).toBe("webhook.test");

    await shoot("webhook-deliveries");
    // A rotated secret is shown once; what follows verifies with it, not the old one.
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page
      .getByRole("dialog", { name: "Rotate the signing secret?" })
      .getByRole("button", { name: "Rotate secret" })
      .click();
    const rotated = page.getByRole("dialog", { name: "New signing secret" });
    const newSecret = (await rotated.getByTestId("webhook-secret").innerText()).trim();
    expect(newSecret).not.toBe(secret);
    await rotated.getByRole("button", { name: "I've copied it" }).click();
    const before = receiver.received.length;
    await page.getByRole("button", { name: "Send test event" }).click();
    await expect.poll(() => receiver.received.length, POLL).toBeGreaterThan(before);
    const latest = receiver.received[receiver.received.length - 1]!;
    expect(verified(newSecret, latest).type).toBe("webhook.test");
    expect(() => verified(secret, latest)).toThrow();

    // Readable on a phone: nothing wider than the screen, the page or its delivery log.
    await page.setViewportSize({ width: 375, height: 812 });
    for (const path of ["/webhooks", `/webhooks/${endpointId}`]) {
      await page.goto(server.url + path);
      await page.getByRole("heading", { level: 1 }).waitFor();
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await rows.first().waitFor();
    await shoot("webhook-details-375");
    await page.setViewportSize({ width: 1280, height: 860 });

    // Edited: the description and the events change, the URL stays.
    await page.getByRole("button", { name: "Edit", exact: true }).click();
    const edit = page.getByRole("dialog", { name: "Edit endpoint" });
    await edit.getByLabel("Description (optional)").fill("Audit relay, leaks only");
    await edit.getByRole("checkbox", { name: /^key\.created/ }).uncheck();
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.waitFor({ state: "detached" });
    await page.getByText("Audit relay, leaks only").waitFor();
    const edited = (await asUser("GET", `/v1/webhooks/${endpointId}`)).body;
    expect(edited).toMatchObject({ url: receiver.url, events: ["key.leaked"] });

    // Off and on again.
    const header = page.locator(".page-header");
    await page.getByRole("button", { name: "Disable", exact: true }).click();
    await header.getByText("Disabled", { exact: true }).waitFor();
    expect((await asUser("GET", `/v1/webhooks/${endpointId}`)).body.enabled).toBe(false);
    await page.getByRole("button", { name: "Enable", exact: true }).click();
    await header.getByText("Enabled", { exact: true }).waitFor();
    expect((await asUser("GET", `/v1/webhooks/${endpointId}`)).body.enabled).toBe(true);

    // Deleted after a confirmation: back to the empty list.
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page
      .getByRole("dialog", { name: "Delete this endpoint?" })
      .getByRole("button", { name: "Delete endpoint" })
      .click();
    await heading("Webhooks").waitFor();
    await page.getByText("No webhook endpoints yet").waitFor();
    expect((await asUser("GET", "/v1/webhooks")).body.webhooks).toEqual([]);
    expect(problems).toEqual([]);
  }, 60_000);

  it("quarantines a reported key under the policy chosen (with step-up), shows the leak as text, releases one and revokes another", async () => {
    // The sign-in is now over 10 minutes old: saving the policy asks to confirm it is you.
    offset += 10 * 60_000 + 1_000;
    await page.getByRole("link", { name: "Security" }).click();
    await heading("Security").waitFor();
    const policy = page.getByRole("region", { name: "Leaked keys" });
    await policy.getByRole("radio", { name: /^Quarantine/ }).check();
    await shoot("leak-policy");
    await policy.getByRole("button", { name: "Save policy" }).click();
    const confirm = page.getByRole("dialog", { name: "Confirm it is you" });
    await confirm.getByLabel("Password").fill(PASSWORD);
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await confirm.waitFor({ state: "detached" });
    await expect
      .poll(async () => (await asUser("GET", "/v1/keys/leaks/policy")).body.policy, POLL)
      .toBe("quarantine");

    const created = await asUser("POST", "/v1/api-keys", {
      name: "ci-deploy",
      scopes: ["services:read"],
      environment: "test",
    });
    expect(created.status).toBe(201);
    const { id, key } = created.body as { id: string; key: string };
    // Where it was seen is the reporter's text: it must show as text, never as markup.
    const source = '<img src=x onerror="window.__leaked=1">scanner';
    const report = await client(server.url).post("/v1/keys/leaks", { keys: [{ key, source }] });
    expect(report.status).toBe(202);
    const whoami = await client(server.url).get("/v1/auth/whoami", { token: key });
    expect(whoami.body.error?.code).toBe("key_leaked");

    await page.getByRole("link", { name: "API keys" }).click();
    const card = page.locator(`[data-key-id="${id}"]`);
    await card.getByText("Leaked: quarantined").waitFor();
    await card.getByRole("link", { name: "ci-deploy" }).click();
    await heading("ci-deploy").waitFor();
    const banner = page.getByTestId("leak-banner");
    await banner.getByText("every use is refused as", { exact: false }).waitFor();
    expect(await banner.innerText()).toContain(`Reported leaked (seen at ${source})`);
    expect(await banner.locator("img").count()).toBe(0);
    expect(await page.evaluate(() => (window as { __leaked?: number }).__leaked)).toBeUndefined();

    await shoot("key-leaked");
    await banner.getByRole("button", { name: "Release" }).click();
    await page
      .getByRole("dialog", { name: "Release “ci-deploy”?" })
      .getByRole("button", { name: "Release key" })
      .click();
    await banner.waitFor({ state: "detached" });
    await page.locator(".page-header").getByText("Active", { exact: true }).waitFor();
    const details = await asUser("GET", `/v1/api-keys/${id}`);
    expect(details.body).toMatchObject({ enabled: true, leaked_at: null, status: "active" });
    expect((await client(server.url).get("/v1/auth/whoami", { token: key })).status).toBe(200);

    // Another reported key, revoked from its banner: the banner says why it was revoked, and
    // an http(s) place it was seen at is a link.
    const other = await asUser("POST", "/v1/api-keys", {
      name: "cron-sync",
      scopes: ["services:read"],
      environment: "test",
    });
    const seenAt = "https://gist.example.com/someone/leak";
    await client(server.url).post("/v1/keys/leaks", {
      keys: [{ key: other.body.key, url: seenAt }],
    });
    await page.goto(`${server.url}/keys/${other.body.id}`);
    await heading("cron-sync").waitFor();
    await banner.getByRole("button", { name: "Revoke" }).click();
    await page
      .getByRole("dialog", { name: "Revoke “cron-sync”?" })
      .getByRole("button", { name: "Revoke key" })
      .click();
    await banner.getByText("Revoked: reported leaked").waitFor();
    expect(await banner.getByRole("link", { name: seenAt }).getAttribute("href")).toBe(seenAt);
    expect((await asUser("GET", `/v1/api-keys/${other.body.id}`)).body).toMatchObject({
      status: "revoked",
      leak_source: seenAt,
    });
    expect(problems).toEqual([]);
  });
});
