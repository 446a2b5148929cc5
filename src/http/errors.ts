import { randomBytes } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { LatchkeyError, type ErrorCode } from "../core/errors.js";

export interface FieldProblem {
  field: string;
  message: string;
}

export function errorBody(
  code: ErrorCode,
  message: string,
  requestId: string,
  extras: Record<string, unknown> = {},
) {
  return { error: { code, message, request_id: requestId, ...extras } };
}

export function sendError(reply: FastifyReply, error: LatchkeyError): FastifyReply {
  if (error.retryAfter !== undefined) reply.header("retry-after", String(error.retryAfter));
  if (error.status === 401)
    reply.header(
      "www-authenticate",
      `Bearer error="${error.code === "unauthenticated" ? "invalid_request" : "invalid_token"}"`,
    );
  return reply
    .status(error.status)
    .send(errorBody(error.code, error.message, reply.request.id, error.extras));
}

function fieldName(context: string | undefined, path: string): string {
  const field = path.replace(/^\//, "").replaceAll("/", ".");
  if (context && context !== "body") return field ? `${context}.${field}` : context;
  return field || "body";
}

/** Turns a framework error (validation, parsing, size) into one of ours, or null. */
function fromFramework(error: FastifyError): LatchkeyError | null {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as { validationContext?: string }).validationContext;
    const details: FieldProblem[] = error.validation.flatMap((v) => {
      // zod reports unknown fields once per object, listing their names in params.keys.
      const keys =
        v.keyword === "unrecognized_keys" ? ((v.params as { keys?: string[] }).keys ?? []) : [];
      if (keys.length > 0) {
        return keys.map((key) => ({
          field: fieldName(context, `${v.instancePath}/${key}`.replace(/^\/+/, "/")),
          message: "unknown field",
        }));
      }
      return [{ field: fieldName(context, v.instancePath), message: v.message ?? "invalid" }];
    });
    return new LatchkeyError("invalid_request", "the request is not valid", { details });
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new LatchkeyError("payload_too_large", "request body is larger than 64 KiB");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new LatchkeyError("invalid_request", "Content-Type must be application/json", {
        details: [{ field: "content-type", message: "must be application/json" }],
      });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new LatchkeyError("invalid_request", "request body is empty", {
        details: [{ field: "body", message: "required" }],
      });
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new LatchkeyError("invalid_request", "Content-Length does not match the body");
    case "FST_ERR_BAD_URL":
      return new LatchkeyError(
        "invalid_request",
        "the URL is not valid (malformed percent-encoding)",
      );
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new LatchkeyError("invalid_request", "a path parameter is longer than allowed");
  }
  if (error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new LatchkeyError("invalid_request", "request body is not valid JSON", {
      details: [{ field: "body", message: "malformed JSON" }],
    });
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return new LatchkeyError("payload_too_large", "request is too large");
  if (status >= 400 && status < 500)
    return new LatchkeyError("invalid_request", "the request is not valid");
  return null;
}

/** One handler, three cases: ours, the framework's, unknown (→ `internal`, details to the log only). */
export function handleError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error instanceof LatchkeyError) return sendError(reply, error);
  const known = fromFramework(error);
  if (known) return sendError(reply, known);
  request.log.error(
    { err: { type: error.name, message: error.message, stack: error.stack } },
    "unhandled error",
  );
  return reply
    .status(500)
    .send(
      errorBody(
        "internal",
        "something went wrong; quote the request id when reporting it",
        request.id,
      ),
    );
}

/**
 * Requests Node's HTTP parser rejects before Fastify sees them (bare CR/LF or invalid bytes
 * in headers, oversized headers, broken framing) still get the spec's JSON error, then the
 * connection closes. Nothing of the request is echoed.
 */
export function handleClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
  const status = tooLarge ? 413 : 400;
  const body = JSON.stringify(
    tooLarge
      ? errorBody("payload_too_large", "request headers are too large", clientRequestId())
      : errorBody("invalid_request", "the request is not valid HTTP", clientRequestId()),
  );
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function clientRequestId(): string {
  return `req_${randomBytes(9).toString("base64url")}`;
}
