/**
 * The SDK client's passkey methods (SPEC §9) against a real server, with the software
 * authenticator standing in for the browser: register, list, rename, sign in (passwordless
 * and as the second step), reauthenticate with a passkey, remove.
 */
import { Latchkey, LatchkeyApiError } from "latchkey";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";
import { SoftAuthenticator, type CeremonyOptions } from "../helpers/webauthn.js";
import { authenticatorCode } from "../helpers/authenticator.js";

describeEachStore("SDK client: passkeys", (store) => {
  let server: TestServer;
  let ms = 63_333_333 * 30_000 + 5_000;

  beforeAll(async () => {
    server = await startTestServer({ store, now: () => ms });
  });
  afterAll(async () => server?.close());

  it("registers, signs in with, reauthenticates with and removes a passkey", async () => {
    const email = uniqueEmail("sdk-passkey");
    const sdk = new Latchkey({ baseUrl: server.url });
    await sdk.auth.signup({ email, password: PASSWORD });
    await sdk.auth.login({ email, password: PASSWORD });
    const authenticator = new SoftAuthenticator(server.url.replace("127.0.0.1", "localhost"));

    const options = await sdk.passkeys.registrationOptions();
    const passkey = await sdk.passkeys.register({
      credential: authenticator.register(options as CeremonyOptions),
      name: "CI key",
    });
    expect(passkey.name).toBe("CI key");
    expect((await sdk.passkeys.rename(passkey.id, { name: "Build key" })).name).toBe("Build key");
    expect((await sdk.passkeys.list()).passkeys.map((p) => p.id)).toEqual([passkey.id]);

    const fresh = new Latchkey({ baseUrl: server.url });
    const login = await fresh.passkeys.login({
      credential: authenticator.assert((await fresh.passkeys.loginOptions()) as CeremonyOptions),
    });
    expect(login.token_type).toBe("Bearer");
    expect((await fresh.auth.whoami()).email).toBe(email);

    // The second step after the password, once 2FA is on.
    const setup = await sdk.twofa.setup();
    await sdk.twofa.verify({ code: authenticatorCode(setup.secret, ms) });
    ms += 30_000;
    const second = new Latchkey({ baseUrl: server.url });
    let mfaToken = "";
    try {
      await second.auth.login({ email, password: PASSWORD });
    } catch (error) {
      expect(error).toBeInstanceOf(LatchkeyApiError);
      mfaToken = (error as LatchkeyApiError).mfaToken!;
      expect((error as LatchkeyApiError).body.methods).toContain("passkey");
    }
    const step = await second.passkeys.loginOptions({ mfa_token: mfaToken });
    await second.passkeys.login({
      credential: authenticator.assert(step as CeremonyOptions),
      mfa_token: mfaToken,
    });
    expect((await second.auth.whoami()).email).toBe(email);

    // Past the step-up window, a passkey confirms it is you.
    ms += 11 * 60_000;
    await expect(second.passkeys.remove(passkey.id)).rejects.toMatchObject({
      code: "reauthentication_required",
    });
    const challenge = await second.passkeys.reauthenticationOptions();
    const renewed = await second.auth.reauthenticate({
      passkey: authenticator.assert(challenge as CeremonyOptions),
    });
    expect(renewed.token_type).toBe("Bearer");
    await second.passkeys.remove(passkey.id);
    expect((await second.passkeys.list()).passkeys).toEqual([]);
  });
});
