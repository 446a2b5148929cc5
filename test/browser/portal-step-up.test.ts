import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticatorCode as totp } from "../helpers/authenticator.js";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { STORES } from "../helpers/stores.js";
import { launchChromium, type Browser } from "./chromium.js";

const store = STORES[STORES.length - 1]!;
const POLL = { timeout: 10_000 };
// As in portal.test.ts: UPDATE_SCREENSHOTS=1 refreshes the README's copy.
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? join(process.cwd(), "docs", "screenshots")
  : join(process.cwd(), "test-results", "screenshots");

/**
 * Step-up in the portal (SPEC §9): once the sign-in is over 10 minutes old, regenerating the
 * backup codes opens a "Confirm it is you" dialog; after the password and a second factor the
 * action is retried and its result shown, with no second click.
 */
describe(`portal step-up in Chromium [${store}]`, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  // The server's clock: real time plus an offset the test moves instead of sleeping.
  let offset = 0;
  const now = () => Date.now() + offset;
  const email = "grace@example.com"; // each run has a fresh database
  let secret = "";
  let backupCodes: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ store, now });
    const api = client(server.url);
    await api.post("/v1/auth/signup", { email: uniqueEmail("first"), password: PASSWORD });
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const token = login.body.access_token as string;
    secret = (await api.post("/v1/auth/2fa/setup", undefined, { token })).body.secret;
    const verify = await api.post("/v1/auth/2fa/verify", { code: totp(secret, now()) }, { token });
    expect(verify.status).toBe(200);
    backupCodes = verify.body.backup_codes;
    browser = await launchChromium();
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

  it("asks to confirm with password and code past 10 minutes, then regenerates the backup codes", async () => {
    offset += 30_000; // a newer TOTP step than the one that enabled 2FA
    await page.goto(`${server.url}/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByLabel("Authentication code").fill(totp(secret, now()));
    await page.getByRole("button", { name: "Verify", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();

    offset += 10 * 60_000 + 1_000;
    await page.getByRole("link", { name: "Security" }).click();
    await page.getByRole("button", { name: "Regenerate backup codes" }).click();
    const regenerate = page.getByRole("dialog", { name: "Regenerate backup codes" });
    await regenerate.getByLabel("Authentication code").fill(backupCodes[0]!);
    await regenerate.getByRole("button", { name: "Regenerate" }).click();

    const confirm = page.getByRole("dialog", { name: "Confirm it is you" });
    await confirm.waitFor();
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, "step-up-dialog.png") });
    // A wrong password is refused beside the field; the dialog stays.
    await confirm.getByLabel("Password").fill("not-the-password");
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await confirm.getByText("That is not your password").waitFor();
    // Without a code, the server asks for the second factor.
    await confirm.getByLabel("Password").fill(PASSWORD);
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await confirm.getByText(/enter a code from your app/i).waitFor();
    offset += 30_000;
    await confirm.getByLabel("Authentication or backup code").fill(totp(secret, now()));
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await confirm.waitFor({ state: "detached" });

    // The action was retried by itself: the new codes are shown, the old ones void.
    const fresh = page.getByTestId("backup-codes").locator("li");
    await expect.poll(() => fresh.count(), POLL).toBe(10);
    expect(await fresh.allInnerTexts()).not.toContain(backupCodes[1]);
    const stale = await client(server.url).post("/v1/auth/login", {
      email,
      password: PASSWORD,
      backup_code: backupCodes[1],
    });
    expect(stale.body.error?.code).toBe("invalid_mfa_code");
    // The session cookie now carries the fresh auth time; the refresh cookie is unchanged.
    const cookies = await browser.context.cookies();
    const session = cookies.find((c) => c.name === "lk_session")!;
    const claims = JSON.parse(Buffer.from(session.value.split(".")[1]!, "base64url").toString());
    expect(Math.abs(claims.auth_time * 1000 - now())).toBeLessThan(5_000);
    expect(problems).toEqual([]);
  });

  it("leaves the action undone when the dialog is cancelled", async () => {
    await page.getByRole("button", { name: "I've saved them" }).click();
    offset += 10 * 60_000 + 1_000;
    await page.getByRole("button", { name: "Turn off" }).click();
    const off = page.getByRole("dialog", { name: "Turn off two-factor authentication" });
    await off.getByLabel("Authentication or backup code").fill(backupCodes[2]!);
    await off.getByRole("button", { name: "Turn off" }).click();
    const confirm = page.getByRole("dialog", { name: "Confirm it is you" });
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });
    await off
      .locator(".alert-error")
      .getByText(/recent|authentication under/i)
      .waitFor();
    const api = client(server.url);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    expect(login.body.error?.code).toBe("mfa_required");
    expect(problems).toEqual([]);
  });
});
