import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { STORES } from "../helpers/stores.js";
import { launchChromium, type Browser } from "./chromium.js";
import { authenticatorCode as totp } from "../helpers/authenticator.js";

// Every run saves its screenshots under test-results/ (not tracked); UPDATE_SCREENSHOTS=1
// refreshes the README's copies in docs/screenshots/.
// Generous, for a loaded CI machine: a poll ends as soon as it holds.
const POLL = { timeout: 10_000, interval: 100 };

const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? join(process.cwd(), "docs", "screenshots")
  : join(process.cwd(), "test-results", "screenshots");

// The journey runs once, on PostgreSQL when it is configured (as in CI): it tests the portal;
// the storage behind each call is covered per store by the API's own tests and portal-session.
const store = STORES[STORES.length - 1]!;

/** The whole portal journey in a real Chromium: one account, in order, as a person would. */
describe(`web portal in Chromium [${store}]`, () => {
  // The server's clock runs at real speed plus an offset, so the test can step past a
  // TOTP window (a code is never accepted twice) without sleeping.
  let offset = 0;
  const now = () => Date.now() + offset;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const email = "ada@example.com"; // each run has a fresh database
  const keys: Record<string, { id: string; secret: string }> = {};
  // Script errors and CSP refusals ("Refused to apply inline style…"); failed loads are expected (401s).
  const problems: string[] = [];
  const backupCodes: string[] = [];

  const shoot = async (name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const whoamiWith = async (secret: string) => {
    const response = await fetch(`${server.url}/v1/auth/whoami`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    return { status: response.status, body: await response.json() };
  };
  /** A call as the signed-in browser: its cookies, plus the CSRF header a script can read. */
  const asUser = async (method: "POST" | "GET", path: string, data?: unknown) => {
    const csrf = (await browser.context.cookies()).find((c) => c.name === "lk_csrf")?.value ?? "";
    const response = await page.request.fetch(server.url + path, {
      method,
      data,
      headers: { "x-csrf-token": csrf },
    });
    return { status: response.status(), body: await response.json() };
  };
  const heading = (name: string) => page.getByRole("heading", { level: 1, name });

  beforeAll(async () => {
    server = await startTestServer({ store, now, env: { LATCHKEY_USAGE_FLUSH_MS: "50" } });
    browser = await launchChromium();
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: server.url,
    });
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("signs up, showing the API's complaint next to the field that caused it", async () => {
    await page.goto(server.url);
    await page.waitForURL(`${server.url}/sign-in`);
    await heading("Sign in").waitFor();
    await shoot("sign-in");

    await page.getByRole("link", { name: "Create an account" }).click();
    await heading("Create your account").waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    const password = page.getByLabel("Password");
    await expect.poll(() => password.getAttribute("aria-invalid"), POLL).toBe("true");
    const describedBy = (await password.getAttribute("aria-describedby"))!.split(" ");
    const message = await page.locator(`[id="${describedBy.at(-1)}"]`).innerText();
    expect(message).toMatch(/10 characters/);

    await password.fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await heading("API keys").waitFor();
    await page.getByText("No API keys yet").waitFor();
    const project = await asUser("POST", "/v1/projects", { name: "storefront" });
    expect(project.status).toBe(201);
    keys.project = { id: project.body.id, secret: "" };
  });

  it("enables 2FA with a code computed from the secret it shows", async () => {
    await page.getByRole("link", { name: "Security" }).click();
    await heading("Security").waitFor();
    await page.getByRole("button", { name: "Enable two-factor authentication" }).click();
    const secretBox = page.getByTestId("totp-secret");
    const secret = (await secretBox.getAttribute("data-secret"))!;
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    const qr = page.getByRole("img", { name: /QR code/ });
    expect(await qr.getAttribute("src")).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(await qr.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
    await shoot("security-2fa-setup");

    await page.getByLabel("6-digit code").fill(totp(secret, now()));
    await page.getByRole("button", { name: "Verify and turn on" }).click();
    const codes = page.getByTestId("backup-codes").locator("li");
    await expect.poll(() => codes.count(), POLL).toBe(10);
    await shoot("security-backup-codes");
    await page.getByRole("button", { name: "Copy all" }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied.split("\n")).toHaveLength(10);
    backupCodes.push(...copied.split("\n"));
    await page.getByRole("button", { name: "I've saved them" }).click();
    await page.getByText("Backup codes left").waitFor();
    keys.totp = { id: "", secret };
  });

  it("signs out, and signs back in with the second factor", async () => {
    await page.getByRole("button", { name: "Sign out", exact: true }).first().click();
    await heading("Sign in").waitFor();
    expect((await browser.context.cookies()).map((c) => c.name)).not.toContain("lk_session");

    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await heading("Two-factor authentication").waitFor();
    await page.getByLabel("Authentication code").fill("123456");
    await page.getByRole("button", { name: "Verify" }).click();
    await page.locator(".field-error").waitFor();
    await shoot("sign-in-2fa");

    offset += 30_000; // the next TOTP window: the enabling code can never be replayed
    await page.getByLabel("Authentication code").fill(totp(keys.totp!.secret, now()));
    await page.getByRole("button", { name: "Verify" }).click();
    await heading("API keys").waitFor();
    const session = (await browser.context.cookies()).find((c) => c.name === "lk_session")!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe("Strict");
    expect(await page.evaluate(() => document.cookie)).not.toContain("lk_session");
  });

  it("creates a key in the dialog, shows it once, and the key works with fetch", async () => {
    const opener = page.getByRole("button", { name: "New key" });
    await opener.click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect(await opener.evaluate((el) => el === document.activeElement)).toBe(true);

    await opener.click();
    await dialog.getByLabel("Name").fill("CI pipeline");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText("Choose at least one scope.").waitFor();
    for (const scope of ["services:read", "services:write", "keys:read"])
      await dialog.getByRole("checkbox", { name: scope }).check();
    await dialog.getByLabel("Expiration").selectOption("90d");
    const projects = dialog.getByLabel("Project restriction");
    expect(await projects.inputValue()).toBe("");
    expect(await projects.locator("option").allInnerTexts()).toEqual([
      "All projects",
      "storefront",
    ]);
    await shoot("new-key-dialog");
    await dialog.getByRole("button", { name: "Create key" }).click();

    const reveal = page.getByRole("dialog", { name: "Your new API key" });
    const secret = await reveal.getByTestId("new-key-secret").innerText();
    expect(secret).toMatch(/^lk_live_[0-9A-Za-z]{49}$/);
    await reveal.getByText("won't be shown again").waitFor();
    await shoot("new-key-secret");
    await reveal.getByRole("button", { name: "Copy key" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await reveal.getByRole("button", { name: "I've copied it" }).click();

    const me = await whoamiWith(secret);
    expect(me.status).toBe(200);
    expect(me.body.credential_type).toBe("api_key");
    expect(me.body.scopes).toEqual(["keys:read", "services:read", "services:write"]);
    keys.ci = { id: me.body.key_id, secret };

    // Some traffic for the usage figures, one call refused for want of a scope.
    for (let i = 0; i < 4; i++) await whoamiWith(secret);
    await fetch(`${server.url}/v1/api-keys`, { headers: { authorization: `Bearer ${secret}` } });
    const refused = await fetch(`${server.url}/v1/audit-log`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(refused.status).toBe(403);
    expect((await refused.json()).error.code).toBe("scope_insufficient");

    const card = page.locator(`[data-key-id="${keys.ci.id}"]`);
    await card.waitFor();
    expect(await card.innerText()).toContain(secret.slice(0, 12));
    expect(await card.innerText()).not.toContain(secret);
  });

  it("shows usage and activity on the key's page, and narrows its scopes", async () => {
    // One exchange for a short-lived token: the key's page says so (issue 20 item 6).
    const exchanged = await fetch(`${server.url}/v1/keys/exchange`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.ci!.secret}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(exchanged.status).toBe(200);
    await expect
      .poll(
        async () =>
          (await page.request.get(`${server.url}/v1/api-keys/${keys.ci!.id}`))
            .json()
            .then((b) => b.usage.by_endpoint.some((e: any) => e.endpoint.endsWith("/exchange"))),
        POLL,
      )
      .toBe(true);
    await expect
      .poll(
        async () =>
          (await page.request.get(`${server.url}/v1/api-keys/${keys.ci!.id}`))
            .json()
            .then((b) => b.usage_count),
        POLL,
      )
      .toBeGreaterThanOrEqual(6);
    await page.reload();
    await page.getByRole("link", { name: "CI pipeline" }).click();
    await heading("CI pipeline").waitFor();
    await page.getByRole("heading", { name: "Activity log" }).waitFor();
    await page.locator("table tbody tr").first().waitFor();
    expect(await page.getByRole("img", { name: /calls in the last 24 hours/ }).count()).toBe(1);
    await shoot("key-details");
    await page.getByRole("heading", { name: "Short-lived tokens" }).waitFor();
    await page.getByText(/Exchanged for access tokens 1 time, last/).waitFor();

    await page.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("dialog", { name: "Edit key" });
    await edit.getByLabel("Name").fill("CI pipeline (read-only)");
    await edit.getByRole("checkbox", { name: "services:write" }).uncheck();
    await edit.getByRole("button", { name: "Save changes" }).click();
    await heading("CI pipeline (read-only)").waitFor();
    const me = await whoamiWith(keys.ci!.secret);
    expect(me.body.scopes).toEqual(["keys:read", "services:read"]);

    // A description and metadata: a typo is caught in the form, a JSON object is saved.
    await page.getByRole("button", { name: "Edit" }).click();
    const about = page.getByRole("dialog", { name: "Edit key" });
    await about.getByLabel("Description").fill("Deploys from the main branch");
    await about.getByLabel("Metadata (JSON)").fill('{"team": "platform",');
    await about.getByRole("button", { name: "Save changes" }).click();
    await about.getByText("Metadata must be a JSON object").waitFor();
    await about.getByLabel("Metadata (JSON)").fill('{"team": "platform", "tier": 2}');
    await about.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("heading", { name: "About this key" }).waitFor();
    await page.getByText("Deploys from the main branch").waitFor();
    expect(await page.getByLabel("Metadata").innerText()).toContain('"team": "platform"');

    // Disable pauses the key everywhere; Enable resumes it.
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable" }).waitFor();
    await page.locator(".title-badges").getByText("Disabled").waitFor();
    const paused = await whoamiWith(keys.ci!.secret);
    expect(paused.body.error.code).toBe("key_disabled");
    await page.getByRole("button", { name: "Enable" }).click();
    await page.getByRole("button", { name: "Disable" }).waitFor();
    expect((await whoamiWith(keys.ci!.secret)).status).toBe(200);

    // An allowlist that leaves out this machine stops the key here; emptied, it works again.
    const limits = async (addresses: string) => {
      await page.getByRole("button", { name: "Edit" }).click();
      const dialog = page.getByRole("dialog", { name: "Edit key" });
      await dialog.getByLabel("Allowed addresses").fill(addresses);
      await dialog.getByRole("button", { name: "Save changes" }).click();
      await dialog.waitFor({ state: "detached" });
    };
    await limits("203.0.113.0/24");
    expect((await whoamiWith(keys.ci!.secret)).body.error.code).toBe("ip_not_allowed");
    await limits("");
    expect((await whoamiWith(keys.ci!.secret)).status).toBe(200);

    // Usage credits with a daily refill, and a named rate limit: saved, and shown on the page.
    await page.getByRole("button", { name: "Edit" }).click();
    const metered = page.getByRole("dialog", { name: "Edit key" });
    await metered.getByLabel("Usage credits").fill("250");
    await metered.getByLabel("Refill", { exact: true }).selectOption("daily");
    await metered.getByLabel("Refill to").fill("1000");
    await metered.getByLabel("Rate limits").fill("api=100/1m\nsearch 5");
    await metered.getByRole("button", { name: "Save changes" }).click();
    await metered.getByText("does not read name=limit/window").waitFor();
    await metered.getByLabel("Rate limits").fill("api=100/1m\nsearch=5/10s:2");
    await metered.getByRole("button", { name: "Save changes" }).click();
    await metered.waitFor({ state: "detached" });
    const card = page.locator("section", {
      has: page.getByRole("heading", { name: "Usage limits" }),
    });
    await card.getByText("250, refilled to 1,000 every day (UTC)").waitFor();
    await card.getByText("5 per 10s (cost 2)").waitFor();
    const shown = await (await page.request.get(`${server.url}/v1/api-keys/${keys.ci!.id}`)).json();
    expect(shown).toMatchObject({
      remaining: 250,
      refill: { amount: 1000, interval: "daily" },
      ratelimits: [
        { name: "api", limit: 100, window: "1m" },
        { name: "search", limit: 5, window: "10s", cost: 2 },
      ],
    });
  });

  it("rotates the key: the new one works and the old one overlaps", async () => {
    await page.getByRole("button", { name: "Rotate" }).click();
    const rotate = page.getByRole("dialog", { name: /Rotate/ });
    await rotate.getByLabel("Keep the old key working for").selectOption("1h");
    await rotate.getByRole("button", { name: "Rotate key" }).click();
    const reveal = page.getByRole("dialog", { name: "Your rotated key" });
    const secret = await reveal.getByTestId("new-key-secret").innerText();
    expect(secret).not.toBe(keys.ci!.secret);
    await reveal.getByRole("button", { name: "I've copied it" }).click();
    const me = await whoamiWith(secret);
    expect(me.status).toBe(200);
    expect(me.body.scopes).toEqual(["keys:read", "services:read"]);
    expect(me.body.key_id).not.toBe(keys.ci!.id);
    await page.waitForURL(`${server.url}/keys/${me.body.key_id}`);
    expect((await whoamiWith(keys.ci!.secret)).status).toBe(200);
    keys.rotated = { id: me.body.key_id, secret };
  });

  it("revokes the old key after confirmation, and it stops working", async () => {
    await page.getByRole("link", { name: "API keys" }).first().click();
    await heading("API keys").waitFor();
    const card = page.locator(`[data-key-id="${keys.ci!.id}"]`);
    await card.getByRole("button", { name: /^Revoke/ }).click();
    const confirm = page.getByRole("dialog", { name: /Revoke/ });
    await confirm.getByText("cannot be undone").waitFor();
    // Focus starts on Cancel (the safe choice) and Tab cycles inside the dialog.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press("Tab");
      expect(await confirm.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    }
    await shoot("revoke-confirm");
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await card.getByText("Revoked").waitFor();
    expect(await page.getByRole("status").innerText()).toContain("was revoked");
    const old = await whoamiWith(keys.ci!.secret);
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe("key_revoked");
    expect((await whoamiWith(keys.rotated!.secret)).status).toBe(200);
  });

  it("refreshes an expired session silently", async () => {
    const before = (await browser.context.cookies()).find((c) => c.name === "lk_refresh")!.value;
    offset += 2 * 3_600_000; // the access token (1 h) has expired; the refresh token (30 d) has not
    const expired = await page.request.get(`${server.url}/v1/auth/whoami`);
    expect(expired.status()).toBe(401);
    expect((await expired.json()).error.code).toBe("token_expired");
    await page.reload();
    await heading("API keys").waitFor();
    const after = (await browser.context.cookies()).find((c) => c.name === "lk_refresh")!.value;
    expect(after).not.toBe(before);
    expect((await page.request.get(`${server.url}/v1/auth/whoami`)).status()).toBe(200);
  });

  it("lists sessions and the audit log, and reads well on a 375 px phone", async () => {
    await page.getByRole("link", { name: "Security" }).click();
    await page.getByRole("heading", { name: "Active sessions" }).waitFor();
    await page.getByText("This device").waitFor();
    await page.locator("table tbody tr").first().waitFor();
    await shoot("security");

    // A test key restricted to the project, so the list shows both environments.
    const staging = await asUser("POST", "/v1/api-keys", {
      name: "Staging deploy",
      environment: "test",
      scopes: ["services:read", "services:exec", "logs:read"],
      expires_in: "30d",
      project_id: keys.project!.id,
    });
    expect(staging.status).toBe(201);
    expect(staging.body.key).toMatch(/^lk_test_/);
    await page.getByRole("link", { name: "API keys" }).first().click();
    await heading("API keys").waitFor();
    await page.getByText("storefront").waitFor(); // the project's name, not its id
    await shoot("api-keys");

    await page.setViewportSize({ width: 375, height: 812 });
    for (const [path, name, shot] of [
      ["/security", "Security", "security-375"],
      [`/keys/${keys.rotated!.id}`, "CI pipeline (read-only)", "key-details-375"],
      ["/keys", "API keys", "api-keys-375"],
    ] as const) {
      await page.goto(server.url + path);
      await heading(name).waitFor();
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await shoot(shot);
    }
    await page.setViewportSize({ width: 1280, height: 860 });
    expect(problems).toEqual([]);
  });

  it("regenerates backup codes, turns 2FA off, and signs out another session", async () => {
    await page.getByRole("link", { name: "Security" }).click();
    await page.getByRole("button", { name: "Regenerate backup codes" }).click();
    const regenerate = page.getByRole("dialog", { name: "Regenerate backup codes" });
    await regenerate.getByLabel("Authentication code").fill("000000");
    await regenerate.getByRole("button", { name: "Regenerate" }).click();
    // The sign-in is hours old (refreshes keep its auth time): first, confirm it is you.
    const confirm = page.getByRole("dialog", { name: "Confirm it is you" });
    await confirm.getByLabel("Password").fill(PASSWORD);
    await confirm.getByLabel("Authentication or backup code").fill(totp(keys.totp!.secret, now()));
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await confirm.waitFor({ state: "detached" });
    await regenerate.locator(".field-error").waitFor(); // the API's refusal, beside the field
    await regenerate.getByLabel("Authentication code").fill(backupCodes[0]!);
    await regenerate.getByRole("button", { name: "Regenerate" }).click();
    const fresh = page.getByTestId("backup-codes").locator("li");
    await expect.poll(() => fresh.count(), POLL).toBe(10);
    expect(await fresh.allInnerTexts()).not.toContain(backupCodes[1]);
    await page.getByRole("button", { name: "I've saved them" }).click();

    offset += 30_000;
    await page.getByRole("button", { name: "Turn off" }).click();
    const off = page.getByRole("dialog", { name: "Turn off two-factor authentication" });
    await off.getByLabel("Authentication or backup code").fill(totp(keys.totp!.secret, now()));
    await off.getByRole("button", { name: "Turn off" }).click();
    await page.getByRole("button", { name: "Enable two-factor authentication" }).waitFor();

    const other = await fetch(`${server.url}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "curl/8.5.0" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(other.status).toBe(200);
    const { access_token: token } = await other.json();
    await page.reload();
    const signOutCurl = page.getByRole("button", { name: /^Sign out curl/ });
    await signOutCurl.click();
    await signOutCurl.waitFor({ state: "detached" });
    const ended = await fetch(`${server.url}/v1/auth/whoami`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ended.status).toBe(401);
    expect((await ended.json()).error.code).toBe("token_invalid");
    expect(problems).toEqual([]);
  });
});
