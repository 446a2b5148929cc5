/** Wire contract of `POST /v1/keys/exchange`: a short-lived JWT for an API key (issue 20 item 6). */
import { z } from "zod";
import { Environment } from "./keys.js";

export const ExchangeBody = z.strictObject({
  scopes: z
    .array(z.string().min(1).max(64).regex(/^\S+$/, "must not contain spaces"))
    .min(1, "name at least one scope, or leave scopes out for all of the key's")
    .max(64)
    .optional()
    .describe("narrower scopes for the token, each within the key's effective scopes"),
  expires_in: z
    .number()
    .int()
    .positive()
    .optional()
    .describe("seconds the token lives: default 300, at most 900 (a longer ask is capped)"),
});

export const ExchangeResponse = z.object({
  access_token: z
    .string()
    .describe("a JWT (typ at+jwt, token_use key) for the platform's services to verify offline"),
  token_type: z.literal("Bearer"),
  issued_token_type: z.literal("urn:ietf:params:oauth:token-type:access_token"),
  expires_in: z.number().describe("seconds, after any cap"),
  expires_at: z.string(),
  scope: z.string().describe("the token's scopes, space-separated (also its `scope` claim)"),
  scopes: z.array(z.string()),
  key_id: z.string(),
  owner_id: z.string(),
  environment: Environment,
  project_id: z.string().nullable(),
});

export type ExchangeBodyT = z.output<typeof ExchangeBody>;
export type ExchangeResponseT = z.input<typeof ExchangeResponse>;
