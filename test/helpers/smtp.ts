/**
 * A real SMTP server in this process (the `smtp-server` package), so tests read what
 * Latchkey's SMTP adapter actually delivered, parsed by `mailparser`.
 */
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface Inbox {
  /** `smtp://127.0.0.1:<port>`, for SMTP_URL. */
  url: string;
  messages: ParsedMail[];
  /** Refuse the next `n` messages with a 451 (a temporary failure), as a busy relay would. */
  refuseNext(n: number): void;
  /** Take the next `n` messages in but never answer them (a send in flight forever). */
  holdNext(n: number): void;
  /** Messages taken in and held, unanswered. */
  held(): number;
  /** The first message to `to` (whose subject matches) received from now on or already. */
  waitFor(to: string, subject?: RegExp, timeoutMs?: number): Promise<ParsedMail>;
  /** Every message received for `to`. */
  to(address: string): ParsedMail[];
  close(): Promise<void>;
}

function recipients(mail: ParsedMail): string[] {
  const to = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : [];
  return to.flatMap((a) => a.value.map((v) => (v.address ?? "").toLowerCase()));
}

export async function startSmtp(): Promise<Inbox> {
  const messages: ParsedMail[] = [];
  let refusals = 0;
  let holds = 0;
  let heldCount = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    // A held (never answered) message must not keep close() waiting long.
    closeTimeout: 500,
    onData(stream, _session, callback) {
      if (holds > 0) {
        holds -= 1;
        stream.resume();
        stream.on("end", () => (heldCount += 1));
        return;
      }
      if (refusals > 0) {
        refusals -= 1;
        stream.resume();
        stream.on("end", () => {
          const error = new Error("try again later") as Error & { responseCode: number };
          error.responseCode = 451;
          callback(error);
        });
        return;
      }
      simpleParser(stream).then(
        (mail) => {
          messages.push(mail);
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  const to = (address: string) =>
    messages.filter((m) => recipients(m).includes(address.toLowerCase()));
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    refuseNext(n) {
      refusals = n;
    },
    holdNext(n) {
      holds = n;
    },
    held: () => heldCount,
    to,
    async waitFor(address, subject, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = to(address).find((m) => !subject || subject.test(m.subject ?? ""));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no mail to ${address} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The one-time token in a mail's link (`…?token=…`), from its text part. */
export function tokenIn(mail: ParsedMail): string {
  const match = /[?&]token=([A-Za-z0-9_-]+)/.exec(mail.text ?? "");
  if (!match) throw new Error(`no link with a token in: ${mail.text ?? ""}`);
  return match[1]!;
}

/** The link itself (the portal page with `?token=`). */
export function linkIn(mail: ParsedMail): URL {
  const match = /https?:\/\/\S+[?&]token=[A-Za-z0-9_-]+/.exec(mail.text ?? "");
  if (!match) throw new Error(`no link in: ${mail.text ?? ""}`);
  return new URL(match[0]);
}
