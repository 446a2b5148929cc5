/**
 * Compiled JSON-Schema code for the hot routes (`POST /v1/keys/verify`), generated from the
 * same zod schemas that document and validate every other route, so the contract stays
 * single-sourced:
 *
 * - the body is accepted by an ajv-compiled validator of the schema's JSON Schema; only a body
 *   it refuses goes through zod, which explains the refusal in the usual error shape (so error
 *   details are the same on every route);
 * - the 200 answer is written by fast-json-stringify from the schema's output JSON Schema.
 *
 * A hot schema must not transform (no trim, default or coercion): the value ajv accepts is
 * used as it is. compiled.test.ts checks, over generated bodies, that ajv never accepts what
 * zod refuses and that zod's output is the body itself.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";
import fastJson from "fast-json-stringify";
import { validatorCompiler } from "fastify-type-provider-zod";
import { z } from "zod";

// ajv-formats is CommonJS with a default export that ESM sees one level down.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020, formats: string[]) => void;

const ajv = new Ajv2020({ strict: false, allErrors: false, coerceTypes: false });
addFormats(ajv, ["ipv4", "ipv6"]);

/** JSON Schema of what a request may send (zod's input view). */
export function inputSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" });
}

/** An ajv function that accepts exactly the bodies the zod schema accepts (see above). */
export function compileAccept(schema: z.ZodType): (data: unknown) => boolean {
  const validate = ajv.compile(inputSchema(schema));
  return (data) => validate(data);
}

/** A route's `validatorCompiler`: ajv accepts bodies, zod explains refusals and checks the rest. */
export const fastValidatorCompiler: FastifySchemaCompiler<unknown> = (route) => {
  const zod = { ...route, schema: route.schema as z.ZodType };
  const explain = validatorCompiler(zod);
  if (route.httpPart !== "body") return explain;
  const accepts = compileAccept(zod.schema);
  return (data: unknown) => (accepts(data) ? { value: data } : explain(data));
};

/**
 * A route's `serializerCompiler`: fast-json-stringify from the 200 answer's schema (output
 * view). Error answers keep JSON.stringify: their extras (details, required…) vary by error.
 */
export function fastSerializerCompiler({
  schema,
  httpStatus,
}: {
  schema: unknown;
  httpStatus?: string;
}): (data: unknown) => string {
  if (httpStatus !== "200" || !(schema instanceof z.ZodType)) return (data) => JSON.stringify(data);
  const json = z.toJSONSchema(schema, { io: "output", target: "draft-7" });
  return fastJson(json as Parameters<typeof fastJson>[0]) as (data: unknown) => string;
}
