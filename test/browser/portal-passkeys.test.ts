import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { CDPSession, Page } from "playwright-core";
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
 * Passkeys in the portal (SPEC §9), in real Chromium with a virtual authenticator (the
 * DevTools protocol's WebAuthn domain: a platform authenticator with user verification):
 * add and name one on the Security page, sign in with it without a password, use it as the
 * second step after the password, and confirm a sensitive action (removing it) with it.
 * The portal runs on http://localhost, the one host browsers allow WebAuthn on without TLS.
 */
describe(`portal passkeys in Chromium [${store}]`, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId = "";
  let portal = "";
  // The server's clock: real time plus an offset the test moves instead of sleeping.
  let offset = 0;
  const now = () => Date.now() + offset;
  const email = "ada@example.com"; // each run has a fresh database
  const problems: string[] = [];

  const credentials = async () =>
    (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;

  beforeAll(async () => {
    server = await startTestServer({ store, now });
    portal = server.url.replace("127.0.0.1", "localhost");
    const api = client(server.url);
    await api.post("/v1/auth/signup", { email: uniqueEmail("first"), password: PASSWORD });
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    cdp = await browser.context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const signOut = async () => {
    await page.getByRole("button", { name: "Sign out" }).first().click();
    await page.getByRole("heading", { level: 1, name: "Sign in", exact: true }).waitFor();
  };

  it("adds and names a passkey on the Security page", async () => {
    await page.goto(`${portal}/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    await page.getByRole("link", { name: "Security" }).click();
    const card = page.getByRole("region", { name: "Passkeys" });
    await card.getByRole("button", { name: "Add a passkey" }).click();

    const name = page.getByRole("dialog", { name: "Name this passkey" });
    await name.getByLabel("Passkey name").fill("Work laptop");
    await name.getByRole("button", { name: "Save" }).click();
    await name.waitFor({ state: "detached" });
    await card.getByText("Work laptop").waitFor();
    await card.getByText("never used").waitFor();

    // The authenticator holds one discoverable credential for localhost, for this account.
    const held = await credentials();
    expect(held).toHaveLength(1);
    expect(held[0]!.isResidentCredential).toBe(true);
    expect(held[0]!.rpId).toBe("localhost");
    expect(Buffer.from(held[0]!.userHandle!, "base64").toString()).toMatch(/^usr_/);
    mkdirSync(SHOTS, { recursive: true });
    await card.screenshot({ path: join(SHOTS, "passkeys.png") });
    expect(problems).toEqual([]);
  });

  it("signs in with the passkey alone, no password", async () => {
    await signOut();
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    const cookies = await browser.context.cookies();
    const session = cookies.find((c) => c.name === "lk_session")!;
    const claims = JSON.parse(Buffer.from(session.value.split(".")[1]!, "base64url").toString());
    expect(claims.amr).toEqual(["hwk", "user", "mfa"]);
    await page.getByRole("link", { name: "Security" }).click();
    const card = page.getByRole("region", { name: "Passkeys" });
    await card.getByText(/last used/).waitFor();
    expect((await credentials())[0]!.signCount).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it("is the second step after the password once two-factor is on", async () => {
    const api = client(server.url);
    const login = await api.post("/v1/auth/login", { email, password: PASSWORD });
    const token = login.body.access_token as string;
    const secret = (await api.post("/v1/auth/2fa/setup", undefined, { token })).body.secret;
    expect(
      (await api.post("/v1/auth/2fa/verify", { code: totp(secret, now()) }, { token })).status,
    ).toBe(200);
    // Turning 2FA on ended the portal's session: it shows sign-in again.
    await page.goto(`${portal}/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
    await page.getByRole("button", { name: "Use a passkey instead" }).click();
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    const cookies = await browser.context.cookies();
    const session = cookies.find((c) => c.name === "lk_session")!;
    const claims = JSON.parse(Buffer.from(session.value.split(".")[1]!, "base64url").toString());
    expect(claims.amr).toEqual(["pwd", "hwk", "user", "mfa"]);
    expect(problems).toEqual([]);
  });

  it("confirms removing the passkey with the passkey itself, past 10 minutes", async () => {
    offset += 10 * 60_000 + 1_000;
    await page.getByRole("link", { name: "Security" }).click();
    const card = page.getByRole("region", { name: "Passkeys" });
    await card.getByRole("button", { name: "Remove Work laptop" }).click();
    const remove = page.getByRole("dialog", { name: "Remove passkey" });
    await remove.getByRole("button", { name: "Remove" }).click();

    const confirm = page.getByRole("dialog", { name: "Confirm it is you" });
    await confirm.getByRole("button", { name: "Use a passkey instead" }).click();
    await confirm.waitFor({ state: "detached" });
    // The removal was retried by itself.
    await expect.poll(() => card.getByText("Work laptop").count(), POLL).toBe(0);
    const api = client(server.url);
    const events = await server.db.selectFrom("audit_log").select("event").orderBy("id").execute();
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining(["passkey_added", "reauthenticated", "passkey_removed"]),
    );
    // The passkey signs in no more (the browser still holds it; the server refuses it).
    await signOut();
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.getByText(/not registered here/).waitFor();
    expect((await api.get("/v1/portal/meta")).status).toBe(200);
    expect(problems).toEqual([]);
  });
});
