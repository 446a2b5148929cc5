import { createServer } from "node:net";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { linkIn, startSmtp, type Inbox } from "../helpers/smtp.js";
import { STORES } from "../helpers/stores.js";
import { launchChromium, type Browser } from "./chromium.js";
import { authenticatorCode as totp } from "../helpers/authenticator.js";

const NEW_PASSWORD = "a-reset-in-the-browser-passphrase";
const NEWER_PASSWORD = "changed-on-the-security-page-too";

/** A free port, so the server's public URL (in the mailed links) is its real address. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const store = STORES[STORES.length - 1]!;

/** Forgot password, the mailed reset link, email verification and change password, in Chromium. */
describe(`portal account recovery in Chromium [${store}]`, () => {
  let inbox: Inbox;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const email = uniqueEmail("browser");
  const problems: string[] = [];
  const heading = (name: string) => page.getByRole("heading", { level: 1, name });
  // Real time plus an offset, so a test can step past a TOTP window without sleeping.
  let offset = 0;
  const now = () => Date.now() + offset;

  beforeAll(async () => {
    inbox = await startSmtp();
    const port = await freePort();
    server = await startTestServer({
      store,
      now,
      env: {
        PORT: String(port),
        LATCHKEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
        SMTP_URL: inbox.url,
      },
    });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const signup = await client(server.url).post("/v1/auth/signup", { email, password: PASSWORD });
    expect(signup.status).toBe(201);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await inbox?.close();
  });

  it("verifies the email from the link mailed at signup", async () => {
    const link = linkIn(await inbox.waitFor(email, /confirm/i));
    expect(link.pathname).toBe("/verify-email");
    await page.goto(link.toString());
    await heading("Email verified").waitFor();
    await page.getByText(`${email} is confirmed`).waitFor();
    // The link is spent: opened again, it says so.
    await page.goto(link.toString());
    await heading("This link does not work").waitFor();
  });

  it("asks for a reset link from the sign-in page, and sets a new password from the mail", async () => {
    await page.goto(`${server.url}/sign-in`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await heading("Forgot your password?").waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Send reset link" }).click();
    await heading("Check your email").waitFor();

    const link = linkIn(await inbox.waitFor(email, /reset your password/i));
    expect(link.pathname).toBe("/reset-password");
    await page.goto(link.toString());
    await heading("Choose a new password").waitFor();
    await page.getByLabel("New password", { exact: true }).fill("password1234");
    await page.getByLabel("Repeat the new password").fill("password1234");
    await page.getByRole("button", { name: "Set new password" }).click();
    // The API's rule appears beside the field, and the link is still good.
    const field = page.getByLabel("New password", { exact: true });
    await expect.poll(() => field.getAttribute("aria-invalid")).toBe("true");

    await field.fill(NEW_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await heading("Password changed").waitFor();

    await page.getByRole("link", { name: "Sign in with your new password" }).click();
    await heading("Sign in").waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
  });

  it("changes the password on the Security page, which shows the address verified", async () => {
    await page.getByRole("link", { name: "Security" }).click();
    await heading("Security").waitFor();
    await page.getByText("Verified", { exact: true }).waitFor();
    await page.getByLabel("Current password").fill("not-my-password-at-all");
    await page.getByLabel("New password", { exact: true }).fill(NEWER_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(NEWER_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    const current = page.getByLabel("Current password");
    await expect.poll(() => current.getAttribute("aria-invalid")).toBe("true");

    await current.fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("status").getByText("Password changed").waitFor();
    // The audit log, reloaded, shows the event.
    await page.locator("#main .badge", { hasText: "Password changed" }).waitFor();
    const api = client(server.url);
    expect((await api.post("/v1/auth/login", { email, password: NEWER_PASSWORD })).status).toBe(
      200,
    );
    // Still signed in here: the current session survives its own password change.
    await page.reload();
    await heading("Security").waitFor();
    expect(problems).toEqual([]);
  });

  it("changes the email address from the Security page, confirmed by the new address's link", async () => {
    const moved = uniqueEmail("browser-moved");
    await page.getByRole("button", { name: "Change email address" }).click();
    const dialog = page.getByRole("dialog", { name: "Change email address" });
    // Another account's address is refused beside the field.
    await dialog.getByLabel("New email address").fill(email);
    await dialog.getByRole("button", { name: "Send confirmation link" }).click();
    await dialog.getByText(/already the account's email/).waitFor();
    await dialog.getByLabel("New email address").fill(moved);
    await dialog.getByRole("button", { name: "Send confirmation link" }).click();
    await dialog.waitFor({ state: "detached" });
    await page
      .getByRole("status")
      .getByText(/We mailed a link to/)
      .waitFor();
    expect((await inbox.waitFor(email, /being changed/i)).text).toContain(moved);

    const link = linkIn(await inbox.waitFor(moved, /confirm your new email/i));
    await page.goto(link.toString());
    await heading("Email address changed").waitFor();
    await page.getByText(`Your account now signs in with ${moved}`).waitFor();
    const api = client(server.url);
    expect(
      (await api.post("/v1/auth/login", { email: moved, password: NEWER_PASSWORD })).status,
    ).toBe(200);
    await page.getByRole("link", { name: "Continue to Latchkey" }).click();
    await page.getByRole("link", { name: "Security" }).click();
    await page.locator("#main .mono", { hasText: moved }).first().waitFor();
    expect(problems).toEqual([]);
  });

  it("asks a 2FA account's reset for a code, and takes it", async () => {
    const api = client(server.url);
    const other = uniqueEmail("browser-2fa");
    expect((await api.post("/v1/auth/signup", { email: other, password: PASSWORD })).status).toBe(
      201,
    );
    const login = await api.post("/v1/auth/login", { email: other, password: PASSWORD });
    const token = login.body.access_token as string;
    const setup = await api.post("/v1/auth/2fa/setup", undefined, { token });
    const secret = setup.body.secret as string;
    const verify = await api.post("/v1/auth/2fa/verify", { code: totp(secret, now()) }, { token });
    expect(verify.status).toBe(200);
    offset += 30_000;

    expect((await api.post("/v1/auth/password/reset", { email: other })).status).toBe(202);
    const link = linkIn(await inbox.waitFor(other, /reset your password/i));
    await page.goto(link.toString());
    await heading("Choose a new password").waitFor();
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel("Repeat the new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByText("Two-factor authentication is on for this account").waitFor();
    await page.getByLabel("Authentication code").fill("000000");
    await page.getByRole("button", { name: "Set new password" }).click();
    const code = page.getByLabel("Authentication code");
    await expect.poll(() => code.getAttribute("aria-invalid")).toBe("true");
    await code.fill(totp(secret, now()));
    await page.getByRole("button", { name: "Set new password" }).click();
    await heading("Password changed").waitFor();
    // The new password is right, and 2FA still stands.
    const after = await api.post("/v1/auth/login", { email: other, password: NEW_PASSWORD });
    expect(after.body.error.code).toBe("mfa_required");
    expect(problems).toEqual([]);
  });
});
