import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, PASSWORD, signupAndLogin, uniqueEmail } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const LEAKED = "leaked-in-2024-breach";
const sha1 = (text: string) => createHash("sha1").update(text).digest("hex").toUpperCase();

describe("breached passwords (NIST 800-63B §3.1.1.2)", () => {
  let dir: string;
  let server: TestServer;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pwned-"));
    const file = join(dir, "pwned-passwords-sha1-ordered-by-hash.txt");
    const rows = [
      `${sha1(LEAKED)}:4213`,
      "0000A1B2C3D4E5F60718293A4B5C6D7E8F901234:2",
      "FFFF00001111222233334444555566667777AAAA:1",
    ].sort();
    writeFileSync(file, rows.join("\n") + "\n");
    server = await startTestServer({ env: { LATCHKEY_BREACHED_PASSWORDS: file } });
    api = client(server.url);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a breached password at signup with the spec's 400, and accepts others", async () => {
    const refused = await api.post("/v1/auth/signup", { email: uniqueEmail(), password: LEAKED });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("invalid_request");
    expect(refused.body.error.details).toEqual([
      { field: "password", message: expect.stringContaining("breached") },
    ]);
    const fine = await api.post("/v1/auth/signup", { email: uniqueEmail(), password: PASSWORD });
    expect(fine.status).toBe(201);
  });

  it("refuses it as a new password too, and keeps the old one", async () => {
    const user = await signupAndLogin(server.url);
    const change = await api.post(
      "/v1/auth/password",
      { current_password: PASSWORD, new_password: LEAKED },
      { token: user.accessToken },
    );
    expect(change.status).toBe(400);
    expect(change.body.error.details[0].field).toBe("new_password");
    const login = await api.post("/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(login.status).toBe(200);
  });

  it("lets sign-ups through when the list cannot answer (logged: password-rules.test.ts)", async () => {
    const down = await startTestServer({
      env: { LATCHKEY_BREACHED_PASSWORDS: "http://127.0.0.1:9/range/" },
    });
    try {
      const reply = await client(down.url).post("/v1/auth/signup", {
        email: uniqueEmail(),
        password: LEAKED,
      });
      expect(reply.status).toBe(201);
    } finally {
      await down.close();
    }
  });
});
