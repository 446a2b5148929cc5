import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer, { type Transporter } from "nodemailer";
import type { Logger } from "pino";

/** One message as it leaves: plain text and HTML, from the configured sender. */
export interface OutgoingMail {
  /** The outbox row's id: the Message-ID, so a receiver can tell a resend from a new mail. */
  id: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** The mail port: where messages go. Throws when a message could not be handed over. */
export interface MailTransport {
  readonly name: string;
  send(mail: OutgoingMail): Promise<void>;
  close(): Promise<void>;
}

function messageId(mail: OutgoingMail): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(mail.from)?.[1] ?? "latchkey.invalid";
  return `<${mail.id}@${domain}>`;
}

function envelope(mail: OutgoingMail) {
  return {
    from: mail.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: messageId(mail),
  };
}

/** SMTP through nodemailer (`SMTP_URL`: `smtp://user:pass@host:587`, `smtps://…:465`). */
export class SmtpTransport implements MailTransport {
  readonly name = "smtp";
  private readonly transporter: Transporter;

  constructor(url: string) {
    // Pooled: the outbox sends in batches, over kept-open connections (settings in the URL,
    // e.g. `?pool=false`, win).
    this.transporter = nodemailer.createTransport({ url, pool: true });
  }

  async send(mail: OutgoingMail): Promise<void> {
    await this.transporter.sendMail(envelope(mail));
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}

/**
 * The development default: each message as an RFC 5322 `.eml` file (built by nodemailer's
 * stream transport) in `<dir>`, mode 0600. The log names the file, never the link inside.
 */
export class FileTransport implements MailTransport {
  readonly name = "file";
  private readonly transporter = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: "unix",
  });

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  async send(mail: OutgoingMail): Promise<void> {
    const info = await this.transporter.sendMail(envelope(mail));
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${mail.id}.eml`);
    writeFileSync(path, info.message as Buffer, { mode: 0o600 });
    this.logger.info({ path }, "mail written to the outbox directory (no SMTP_URL set)");
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}

/** SMTP when `SMTP_URL` is set, else files in `<dataDir>/outbox/`. */
export function mailTransportFor(
  config: { mail: { smtpUrl: string | undefined }; dataDir: string },
  logger: Logger,
): MailTransport {
  return config.mail.smtpUrl
    ? new SmtpTransport(config.mail.smtpUrl)
    : new FileTransport(join(config.dataDir, "outbox"), logger);
}
