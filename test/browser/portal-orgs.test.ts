import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { STORES } from "../helpers/stores.js";
import { launchChromium, type Browser } from "./chromium.js";

const store = STORES[STORES.length - 1]!;
const POLL = { timeout: 10_000, interval: 100 };

/**
 * Organizations in the portal (SPEC §10), in two real Chromium profiles: one person creates
 * an organization through the switcher and invites another, who accepts through the mailed
 * link (signing in on the way); the Members page shows them and changes their role; keys made
 * in the organization's context are its own; a policy's refusal is shown; removal.
 */
describe(`portal organizations in Chromium [${store}]`, () => {
  let server: TestServer;
  const browsers: Browser[] = [];
  const problems: string[] = [];
  const owner = "ada@example.com";
  const invitee = "grace@example.com";

  async function signedIn(email: string, at = "/sign-in"): Promise<Page> {
    const browser = await launchChromium();
    browsers.push(browser);
    const page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(server.url + at);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    return page;
  }
  const heading = (page: Page, name: string | RegExp) =>
    page.getByRole("heading", { level: 1, name });

  beforeAll(async () => {
    server = await startTestServer({ store });
    const api = client(server.url);
    for (const email of [owner, invitee])
      expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
  });
  afterAll(async () => {
    for (const b of browsers) await b.close();
    await server?.close();
  });

  it("creates an organization, invites, accepts by link, manages roles and org keys", async () => {
    const ada = await signedIn(owner);
    await heading(ada, "API keys").waitFor();
    // The switcher: a new organization, then its Members page.
    await ada.getByLabel("Organization").selectOption({ label: "New organization…" });
    const create = ada.getByRole("dialog", { name: "New organization" });
    await create.getByLabel("Name").fill("Acme");
    await create.getByRole("button", { name: "Create organization" }).click();
    await heading(ada, "Members").waitFor();
    await ada.getByText("Acting in the organization").waitFor();
    expect(await ada.getByRole("table", { name: "Members" }).innerText()).toContain(owner);

    // Invite: the link is shown once.
    await ada.getByRole("button", { name: "Invite someone" }).click();
    const invite = ada.getByRole("dialog", { name: "Invite someone" });
    await invite.getByLabel("Email").fill(invitee);
    await invite.getByLabel("Role").selectOption("member");
    await invite.getByRole("button", { name: "Send invitation" }).click();
    const sent = ada.getByRole("dialog", { name: "Invitation sent" });
    const link = (await sent.getByTestId("invitation-link").innerText()).trim();
    expect(link).toMatch(/\/accept-invitation\?token=lki_/);
    await sent.getByRole("button", { name: "I've copied it" }).click();
    await ada.getByRole("region", { name: "Pending invitations" }).getByText(invitee).waitFor();

    // The invitee opens the link signed out, signs in, and comes back to accept it.
    const path = new URL(link).pathname + new URL(link).search;
    const grace = await signedIn(invitee, path);
    await heading(grace, "Join an organization").waitFor();
    await grace.getByRole("button", { name: "Accept the invitation" }).click();
    await grace.getByText("Acting in the organization").waitFor();
    await heading(grace, "API keys").waitFor();

    // The owner sees her and makes her a viewer.
    await ada.reload();
    await heading(ada, "Members").waitFor();
    const row = ada.locator(`tr[data-member="${invitee}"]`);
    await row.waitFor();
    await row.getByLabel(`Role of ${invitee}`).selectOption("viewer");
    await expect
      .poll(async () => {
        const members = await client(server.url).get(
          `/v1/orgs/${await ada.evaluate(() => localStorage.getItem("latchkey-org"))}/members`,
          { token: await bearerOf(ada) },
        );
        return members.body.members?.find((m: { email: string }) => m.email === invitee)?.role;
      }, POLL)
      .toBe("viewer");

    // A key made in the organization is the organization's.
    await ada.getByRole("link", { name: "API keys" }).click();
    await heading(ada, "API keys").waitFor();
    await ada.getByRole("button", { name: "New key" }).first().click();
    const dialog = ada.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("Org CI");
    await dialog.getByRole("checkbox", { name: "services:read" }).check();
    await dialog.getByRole("button", { name: "Create key" }).click();
    const reveal = ada.getByRole("dialog", { name: "Your new API key" });
    const secret = (await reveal.getByTestId("new-key-secret").innerText()).trim();
    await reveal.getByRole("button", { name: "I've copied it" }).click();
    const who = await client(server.url).get("/v1/auth/whoami", { token: secret });
    expect(who.body.org_id).toMatch(/^org_/);

    // A policy: keys must expire within 30 days; a key without expiry is refused, with why.
    await ada.getByRole("link", { name: "Organization" }).click();
    await heading(ada, "Acme").waitFor();
    const policies = ada.getByRole("region", { name: "Policies" });
    await policies.getByLabel("Maximum key lifetime").fill("30d");
    await policies.getByRole("button", { name: "Save policies" }).click();
    await ada.getByText("Policies saved").waitFor();
    await ada.getByRole("link", { name: "API keys" }).click();
    await ada.getByRole("button", { name: "New key" }).first().click();
    await dialog.getByLabel("Name").fill("Forever");
    await dialog.getByRole("checkbox", { name: "services:read" }).check();
    await dialog.getByLabel("Expiration").selectOption({ label: "No expiration" });
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText(/must expire within 30d/).waitFor();
    await ada.keyboard.press("Escape");

    // Removed: she is back in her own space.
    await ada.getByRole("link", { name: "Members" }).click();
    await ada
      .locator(`tr[data-member="${invitee}"]`)
      .getByRole("button", { name: "Remove" })
      .click();
    await ada
      .getByRole("dialog", { name: `Remove ${invitee}?` })
      .getByRole("button", { name: "Remove" })
      .click();
    await ada.locator(`tr[data-member="${invitee}"]`).waitFor({ state: "detached" });
    await grace.reload();
    await heading(grace, "API keys").waitFor();
    await expect.poll(() => grace.getByText("Acting in the organization").count(), POLL).toBe(0);
    expect(problems).toEqual([]);
  });
});

/** The browser's access token (its cookie), to check what the page did over plain HTTP. */
async function bearerOf(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  const access = cookies.find((c) => /lk_session$/.test(c.name));
  return access?.value ?? "";
}
