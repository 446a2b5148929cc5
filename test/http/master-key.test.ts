import { randomBytes } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startServer } from "../../src/main.js";
import { client, signupAndLogin } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { describeEachStore } from "../helpers/stores.js";

describeEachStore("master key guard", (store) => {
  let server: TestServer | undefined;
  afterAll(async () => server?.close());

  it("refuses to start under a master key that cannot open the stored TOTP secrets", async () => {
    const original = randomBytes(32).toString("hex");
    server = await startTestServer({ store, env: { LATCHKEY_MASTER_KEY: original } });
    const user = await signupAndLogin(server.url);
    const setup = await client(server.url).post("/v1/auth/2fa/setup", undefined, {
      token: user.accessToken,
    });
    expect(setup.status).toBe(200);
    await server.stop();

    const env = {
      PORT: "0",
      LOG_LEVEL: "silent",
      LATCHKEY_DATA_DIR: server.dataDir,
      ...(server.config.database.startsWith("postgres")
        ? { DATABASE_URL: server.config.database }
        : {}),
    };
    const wrong = loadConfig({ ...env, LATCHKEY_MASTER_KEY: randomBytes(32).toString("hex") });
    await expect(startServer(wrong)).rejects.toThrow(/master key does not match/);

    const right = await startServer(loadConfig({ ...env, LATCHKEY_MASTER_KEY: original }));
    await right.stop();
  });
});
