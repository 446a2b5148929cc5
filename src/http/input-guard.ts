import type { FastifyRequest } from "fastify";
import { LatchkeyError } from "../core/errors.js";

const NUL = "\u0000";

/** The path of the first string (key or value) holding a NUL character, or null. Iterative: bodies may nest 10 000 deep. */
export function findNul(root: unknown, rootPath: string): string | null {
  const stack: [unknown, string][] = [[root, rootPath]];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === "string") {
      if (value.includes(NUL)) return path;
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push([item, `${path}.${index}`]));
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (key.includes(NUL)) return path;
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return null;
}

function nulError(field: string): LatchkeyError {
  const name = field.replace(/^body\.?/, "") || "body";
  return new LatchkeyError("invalid_request", "the request is not valid", {
    details: [{ field: name, message: "must not contain NUL characters" }],
  });
}

/**
 * PostgreSQL text cannot hold NUL, so a NUL anywhere in params, query or body could only
 * ever end in a driver error (a 500). No field of the API accepts one: it is refused up front,
 * where it can enter and without a hook of its own (a hook per request costs, bench/):
 *
 * - in the path or query only as `%00` (Node refuses a raw NUL in a URL): checked by the
 *   `onRequest` hook every request already has (`nulInUrl`);
 * - in a JSON body only as the escape `\u0000` (JSON forbids a raw one): the body parser
 *   looks for a NUL only when the text holds that escape (`jsonBodyParser`).
 */
export function nulInUrl(request: FastifyRequest): LatchkeyError | null {
  if (!request.url.includes("%00")) return null;
  const field = findNul(request.params, "params") ?? findNul(request.query, "query");
  return field === null ? null : nulError(field);
}

type Parse = (request: FastifyRequest, body: string, done: ParserDone) => void;
type ParserDone = (error: Error | null, value?: unknown) => void;

/** Fastify's own JSON parser (prototype poisoning refused), then the NUL check. */
export function jsonBodyParser(
  parse: Parse,
): (request: FastifyRequest, body: string, done: ParserDone) => void {
  return (request, body, done) =>
    parse(request, body, (error, value) => {
      if (error) return done(error);
      if (body.includes("\\u0000")) {
        const field = findNul(value, "body");
        if (field !== null) return done(nulError(field));
      }
      done(null, value);
    });
}
