import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { simpleParser } from "mailparser";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileTransport, SmtpTransport } from "../../src/services/mail/transport.js";
import { passwordResetMail, portalLink } from "../../src/services/mail/templates.js";
import { startSmtp, tokenIn, type Inbox } from "../helpers/smtp.js";

const TOKEN = "lkp_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
const link = portalLink("https://portal.example.test/app", "reset-password", TOKEN);
const message = {
  id: "msg_test1",
  from: "Latchkey <no-reply@portal.example.test>",
  ...passwordResetMail("ada@example.test", link),
};

describe("mail transports", () => {
  let inbox: Inbox;
  beforeAll(async () => {
    inbox = await startSmtp();
  });
  afterAll(async () => inbox?.close());

  it("puts the portal link under the public URL's path, with ?token=", () => {
    expect(link).toBe(`https://portal.example.test/app/reset-password?token=${TOKEN}`);
  });

  it("the SMTP adapter delivers text and HTML to a real SMTP server", async () => {
    const smtp = new SmtpTransport(inbox.url);
    await smtp.send(message);
    await smtp.close();
    const mail = await inbox.waitFor("ada@example.test", /reset your password/i);
    expect(tokenIn(mail)).toBe(TOKEN);
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.from?.value[0]?.address).toBe("no-reply@portal.example.test");
    expect(mail.messageId).toBe("<msg_test1@portal.example.test>");
  });

  it("the SMTP adapter throws when the server refuses, so the outbox retries", async () => {
    inbox.refuseNext(1);
    const smtp = new SmtpTransport(inbox.url);
    await expect(smtp.send({ ...message, id: "msg_test2" })).rejects.toThrow();
    await smtp.close();
  });

  it("the development default writes a 0600 .eml file and logs its path, not the link", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "latchkey-mail-")), "outbox");
    const lines: string[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    try {
      await new FileTransport(dir, logger).send(message);
      const files = readdirSync(dir);
      expect(files).toEqual(["msg_test1.eml"]);
      const path = join(dir, files[0]!);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const parsed = await simpleParser(readFileSync(path));
      expect(parsed.subject).toMatch(/reset your password/i);
      expect(tokenIn(parsed)).toBe(TOKEN);
      expect(parsed.html).toBeTruthy();
      expect(lines.join("")).toContain(path);
      expect(lines.join("")).not.toContain(TOKEN);
    } finally {
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });
});
