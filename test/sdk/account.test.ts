import { Latchkey, LatchkeyApiError } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";
import { describeEachStore } from "../helpers/stores.js";

const NEW_PASSWORD = "an-sdk-chosen-and-unusual-passphrase";

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LatchkeyApiError) return error.code;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describeEachStore("SDK client: passwords and email verification", (store) => {
  let inbox: Inbox;
  let server: TestServer;

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startTestServer({ store, env: { SMTP_URL: inbox.url } });
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
  });

  it("changes the email address: the link mailed to the new one moves the account", async () => {
    const email = uniqueEmail("sdk-change");
    const moved = uniqueEmail("sdk-moved");
    const sdk = new Latchkey({ baseUrl: server.url });
    await sdk.auth.signup({ email, password: PASSWORD });
    await sdk.auth.login({ email, password: PASSWORD });
    expect(await sdk.auth.changeEmail({ email: moved })).toEqual({ sent: true, email: moved });
    const mail = await inbox.waitFor(moved, /confirm your new email/i);
    expect(await sdk.auth.verifyEmail({ token: tokenIn(mail) })).toEqual({
      email: moved,
      email_verified: true,
      previous_email: email,
    });
    expect((await sdk.auth.whoami()).email).toBe(moved);
  });

  it("verifies the email, re-sends, changes and resets the password", async () => {
    const email = uniqueEmail("sdk-acct");
    const sdk = new Latchkey({ baseUrl: server.url });
    const { user } = await sdk.auth.signup({ email, password: PASSWORD });
    expect(user.email_verified).toBe(false);
    await sdk.auth.login({ email, password: PASSWORD });

    expect(await sdk.auth.resendVerification()).toEqual({ sent: true, email });
    await expect.poll(() => inbox.to(email).length, { timeout: 10_000 }).toBe(2);
    const verified = await sdk.auth.verifyEmail({ token: tokenIn(inbox.to(email)[1]!) });
    expect(verified).toEqual({ email, email_verified: true });
    expect((await sdk.auth.whoami()).email_verified).toBe(true);

    const changed = await sdk.auth.changePassword({
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
    });
    expect(changed).toEqual({ sessions_ended: 0 });
    expect(
      await code(sdk.auth.changePassword({ current_password: PASSWORD, new_password: PASSWORD })),
    ).toBe("invalid_credentials");

    const anonymous = new Latchkey({ baseUrl: server.url });
    const accepted = await anonymous.auth.requestPasswordReset({ email });
    expect(accepted.accepted).toBe(true);
    const mail = await inbox.waitFor(email, /reset your password/i);
    const reset = await anonymous.auth.confirmPasswordReset({
      token: tokenIn(mail),
      new_password: PASSWORD,
    });
    expect(reset).toEqual({ sessions_ended: 1 });
    expect(await code(sdk.auth.whoami())).toBe("token_invalid");
    await sdk.auth.login({ email, password: PASSWORD });
  });
});

describeEachStore("SDK client: step-up", (store) => {
  let server: TestServer;
  let clock = Date.now();

  beforeAll(async () => {
    server = await startTestServer({ store, now: () => clock });
  });
  afterAll(async () => server?.close());

  it("throws reauthentication_required with its code, then reauthenticates and retries", async () => {
    const email = uniqueEmail("sdk-step-up");
    const sdk = new Latchkey({ baseUrl: server.url });
    await sdk.auth.signup({ email, password: PASSWORD });
    await sdk.auth.login({ email, password: PASSWORD });
    clock += 10 * 60_000 + 1_000;
    const create = () => sdk.keys.create({ name: "deploy", scopes: ["services:write"] });
    const refused = await create().then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(LatchkeyApiError);
    expect(refused).toMatchObject({ code: "reauthentication_required", status: 401 });
    expect((refused as LatchkeyApiError).body.max_age).toBe(600);
    expect(await code(sdk.auth.reauthenticate({ password: "not-my-password" }))).toBe(
      "invalid_credentials",
    );
    const fresh = await sdk.auth.reauthenticate({ password: PASSWORD });
    expect(fresh).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    expect((await create()).name).toBe("deploy");
  });
});
