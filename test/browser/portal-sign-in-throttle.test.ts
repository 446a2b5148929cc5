import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, expectError, PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { launchChromium, type Browser } from "./chromium.js";

/** The sign-in form inside an account's back-off (SECURITY.md, "Sign-in throttling"). */
describe("portal sign-in inside an account's back-off, in Chromium", () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let clockMs = Date.now();

  beforeAll(async () => {
    // The server's clock stands still until the test moves it, so the back-off cannot run out
    // before the page meets it, however slow the machine; the page itself really waits
    // retry_after (1 s here) before it retries.
    server = await startTestServer({
      now: () => clockMs,
      env: { LATCHKEY_LOGIN_BACKOFF_AFTER: "1", LATCHKEY_LOGIN_BACKOFF_MAX: "1s" },
    });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (e) => problems.push(e.message));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("says how long it waits, then signs in with the wait ticket", async () => {
    const email = uniqueEmail("portal-backoff");
    const api = client(server.url);
    expect((await api.post("/v1/auth/signup", { email, password: PASSWORD })).status).toBe(201);
    for (const guess of ["first-wrong-guess", "second-wrong-guess"])
      expectError(
        await api.post("/v1/auth/login", { email, password: guess }),
        401,
        "invalid_credentials",
      );
    expectError(
      await api.post("/v1/auth/login", { email, password: PASSWORD }),
      429,
      "rate_limited",
    );
    await page.goto(`${server.url}/sign-in`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page
      .getByRole("status")
      .getByText(/Trying again in \d+ s/)
      .waitFor();
    // The wait passes on the server; the page retries with its ticket after its own second.
    clockMs += 2_000;
    await page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    expect(problems).toEqual([]);
  });
});
