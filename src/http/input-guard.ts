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

/**
 * PostgreSQL text cannot hold NUL, so a NUL anywhere in params, query or body could only
 * ever end in a driver error (a 500). No field of the API accepts one: refuse it up front.
 */
export async function rejectNulCharacters(request: FastifyRequest): Promise<void> {
  const field =
    findNul(request.params, "params") ??
    findNul(request.query, "query") ??
    findNul(request.body, "body");
  if (field === null) return;
  const name = field.replace(/^body\.?/, "") || "body";
  throw new LatchkeyError("invalid_request", "the request is not valid", {
    details: [{ field: name, message: "must not contain NUL characters" }],
  });
}
