/**
 * A real HTTP server that receives webhooks in tests: it records every request (headers and
 * the raw body) and answers with the status `answer` gives (200 unless told otherwise).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed body: `{type, timestamp, data}`. */
  event: { type: string; timestamp: string; data: Record<string, any> };
  id: string;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** The status for the next requests (a function of the request count is fine too). */
  answer: (request: Received, index: number) => number;
  /** Waits until `predicate` holds over what was received (polls; fails after `ms`). */
  until(predicate: (received: Received[]) => boolean, ms?: number): Promise<Received[]>;
  ofType(type: string): Received[];
  close(): Promise<void>;
}

export async function startReceiver(path = "/hooks"): Promise<Receiver> {
  const received: Received[] = [];
  const receiver: Receiver = {
    url: "",
    received,
    answer: () => 200,
    async until(predicate, ms = 5000) {
      const deadline = Date.now() + ms;
      while (!predicate(received)) {
        if (Date.now() > deadline)
          throw new Error(
            `receiver: condition not met in ${ms} ms; got ${received.map((r) => r.event.type).join(", ") || "nothing"}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return received;
    },
    ofType: (type) => received.filter((r) => r.event.type === type),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let event: Received["event"];
      try {
        event = JSON.parse(body) as Received["event"];
      } catch {
        event = { type: "unparsable", timestamp: "", data: {} };
      }
      const entry: Received = {
        headers: req.headers,
        body,
        event,
        id: String(req.headers["webhook-id"]),
        at: Date.now(),
      };
      const index = received.length;
      received.push(entry);
      res.statusCode = receiver.answer(entry, index);
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}${path}`;
  return receiver;
}

/**
 * Standard Webhooks verification written here from the specification, independently of the
 * library the server signs with: HMAC-SHA256 of `id.timestamp.body` under the base64 key
 * after `whsec_`, compared with each `v1,` signature of the header.
 */
export function verifiesIndependently(received: Received, secret: string): boolean {
  const id = received.headers["webhook-id"];
  const timestamp = received.headers["webhook-timestamp"];
  const signatures = received.headers["webhook-signature"];
  if (typeof id !== "string" || typeof timestamp !== "string" || typeof signatures !== "string")
    return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${received.body}`).digest();
  return signatures.split(" ").some((signature) => {
    const [version, value] = signature.split(",");
    if (version !== "v1" || !value) return false;
    const given = Buffer.from(value, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
