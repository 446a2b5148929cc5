import { afterEach, describe, expect, it } from "vitest";
import { memoryMailer, testServices, type TestDeps } from "../../../test/store/deps.js";
import { backoffMs } from "./outbox.js";
import { passwordResetMail } from "./templates.js";

const LINK = "https://portal.example.test/reset-password?token=lkp_secretsecretsecret";

describe("mail outbox", () => {
  let t: TestDeps;
  afterEach(async () => t?.close());

  const rows = () => t.store.db.selectFrom("mail_outbox").selectAll().execute();

  it("sends a committed message once, from the configured address, and empties its payload", async () => {
    const mailer = memoryMailer();
    t = await testServices({
      env: { LATCHKEY_MAIL_FROM: "Accounts <accounts@example.test>" },
      deps: { mailer },
    });
    const { mailOutbox } = t.services;
    const id = await t.store.transaction((tx) =>
      mailOutbox.enqueue(tx, "password_reset", passwordResetMail("ada@example.test", LINK)),
    );
    const [queued] = await rows();
    // Sealed: the link is not in the row, and the master key opens it (bound to its id).
    expect(queued!.payload).not.toContain("lkp_secret");
    expect(JSON.parse(t.deps.box.open(queued!.payload, `mail:${id}`)).to).toBe("ada@example.test");
    expect(() => t.deps.box.open(queued!.payload, "mail:msg_other")).toThrow();

    expect(await mailOutbox.cycle()).toBe(1);
    expect(await mailOutbox.cycle()).toBe(0);
    expect(mailer.sent).toHaveLength(1);
    expect(mailer.sent[0]).toMatchObject({
      id,
      from: "Accounts <accounts@example.test>",
      to: "ada@example.test",
    });
    expect(mailer.sent[0]!.text).toContain(LINK);
    const [sent] = await rows();
    expect(sent).toMatchObject({ payload: "", attempts: 1, sent_at: t.clock.now });
  });

  it("writes nothing when the transaction that causes the mail rolls back", async () => {
    const mailer = memoryMailer();
    t = await testServices({ deps: { mailer } });
    await expect(
      t.store.transaction(async (tx) => {
        await t.services.mailOutbox.enqueue(tx, "password_changed", {
          to: "ada@example.test",
          subject: "x",
          text: "x",
          html: "x",
        });
        throw new Error("the cause failed");
      }),
    ).rejects.toThrow("the cause failed");
    expect(await rows()).toEqual([]);
    expect(await t.services.mailOutbox.cycle()).toBe(0);
    expect(mailer.sent).toEqual([]);
  });

  it("retries a failing send with exponential backoff, then gives up and empties the payload", async () => {
    let calls = 0;
    t = await testServices({
      deps: {
        mailer: {
          name: "broken",
          async send() {
            calls += 1;
            throw new Error("connection refused");
          },
          async close() {},
        },
      },
    });
    const { mailOutbox } = t.services;
    await t.store.transaction((tx) =>
      mailOutbox.enqueue(tx, "password_reset", passwordResetMail("ada@example.test", LINK)),
    );
    for (let attempt = 1; attempt <= 12; attempt++) {
      expect(await mailOutbox.cycle(), `attempt ${attempt}`).toBe(1);
      const [row] = await rows();
      expect(row!.attempts).toBe(attempt);
      expect(row!.last_error).toBe("connection refused");
      if (attempt < 12) {
        expect(row!.next_attempt_at).toBe(t.clock.now + backoffMs(attempt));
        // Not due before its time.
        t.clock.now += backoffMs(attempt) - 1;
        expect(await mailOutbox.cycle()).toBe(0);
        t.clock.now += 1;
      } else {
        expect(row!.failed_at).toBe(t.clock.now);
        expect(row!.payload).toBe("");
      }
    }
    expect(calls).toBe(12);
    t.clock.now += 86_400_000;
    expect(await mailOutbox.cycle()).toBe(0);
  });

  it("backs off 15 s, doubling, up to 4 hours", () => {
    expect([1, 2, 3, 4].map(backoffMs)).toEqual([15_000, 30_000, 60_000, 120_000]);
    expect(backoffMs(12)).toBe(4 * 3_600_000);
  });
});
