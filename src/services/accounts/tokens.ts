import { randomBytes } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWK, type JWTPayload } from "jose";
import type { SigningKeySet } from "../../infra/secrets.js";

/** RFC 9068's media type for JWT access tokens: the `typ` header of every access token. */
export const ACCESS_TOKEN_TYPE = "at+jwt";
/** RFC 9068 `client_id`: tokens are only issued through Latchkey's own sign-in. */
export const ACCESS_TOKEN_CLIENT = "latchkey";

export interface AccessClaims {
  sub: string;
  sid: string;
  amr: string[];
  iat: number;
  exp: number;
  /** When the person last proved who they are, in seconds (sign-in or reauthentication). */
  auth_time: number;
}

export interface AccessTokenOptions {
  issuer: string;
  /** The `aud` of every token; a token is accepted when its `aud` holds one of them. */
  audience: readonly string[];
  ttlMs: number;
}

export type AccessCheck =
  { ok: true; claims: AccessClaims } | { ok: false; code: "token_expired" | "token_invalid" };

/**
 * `token_use` of a token exchanged for an API key (`POST /v1/keys/exchange`). Session tokens
 * carry no `token_use` and always a `sid`; key tokens never a `sid`, so neither passes for
 * the other, here or in the SDK's verifier.
 */
export const KEY_TOKEN_USE = "key";
/** The longest an exchanged token lives (issue 20 item 6). */
export const KEY_TOKEN_MAX_TTL_S = 900;

/** What an exchanged token vouches for: one key, its owner, and scopes within the key's. */
export interface KeyTokenClaims {
  /** The key's owner (also `owner_id`). */
  sub: string;
  key_id: string;
  environment: "live" | "test";
  project_id: string | null;
  /** Concrete scopes, from the `scope` claim (space-separated, RFC 9068). */
  scopes: string[];
  jti: string;
  iat: number;
  exp: number;
}

export interface KeyTokenInput {
  keyId: string;
  ownerId: string;
  environment: "live" | "test";
  projectId: string | null;
  scopes: readonly string[];
  ttlSeconds: number;
}

/** Either kind of access token, once its signature, issuer, audience and expiry hold. */
export type TokenCheck =
  | { ok: true; kind: "session"; claims: AccessClaims }
  | { ok: true; kind: "key"; claims: KeyTokenClaims }
  | { ok: false; code: "token_expired" | "token_invalid" };

type Verified = Extract<TokenCheck, { ok: true }>;

/** Verified tokens remembered until they expire, so a busy session pays for one signature check. */
const VERIFIED_LIMIT = 10_000;

/**
 * Signs and verifies access tokens with the instance's key set (newest key signs): RFC 9068
 * JWTs (`typ: at+jwt`, `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`, `auth_time`)
 * plus Latchkey's `sid` and `amr`. A token without that `typ` or for another audience is
 * refused, so a token minted for something else cannot be replayed here.
 */
export class AccessTokens {
  private readonly verified = new Map<string, Readonly<Verified>>();
  private readonly issuer: string;
  private readonly audience: string[];
  private readonly ttlMs: number;

  constructor(
    private readonly keys: SigningKeySet,
    options: AccessTokenOptions,
    private readonly now: () => number,
  ) {
    if (options.audience.length === 0) throw new TypeError("access tokens need an audience");
    this.issuer = options.issuer;
    this.audience = [...options.audience];
    this.ttlMs = options.ttlMs;
  }

  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /** `authTime`: epoch milliseconds of the session's last sign-in or reauthentication. */
  async sign(input: {
    userId: string;
    sessionId: string;
    amr: string[];
    authTime: number;
  }): Promise<string> {
    const key = this.keys.keys[0]!;
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({
      sid: input.sessionId,
      amr: input.amr,
      client_id: ACCESS_TOKEN_CLIENT,
      auth_time: Math.floor(input.authTime / 1000),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.issuer)
      .setSubject(input.userId)
      .setAudience(this.audience.length === 1 ? this.audience[0]! : this.audience)
      .setJti(randomBytes(16).toString("base64url"))
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .sign(key.privateKey);
  }

  /**
   * A token exchanged for an API key: the same signer, header and `iss`/`aud` as a session's,
   * told apart by `token_use: "key"` and `key_id` (and no `sid`).
   */
  async signKeyToken(input: KeyTokenInput): Promise<string> {
    if (!(input.ttlSeconds > 0 && input.ttlSeconds <= KEY_TOKEN_MAX_TTL_S))
      throw new TypeError(`a key token lives 1 to ${KEY_TOKEN_MAX_TTL_S} seconds`);
    const key = this.keys.keys[0]!;
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({
      token_use: KEY_TOKEN_USE,
      key_id: input.keyId,
      owner_id: input.ownerId,
      scope: input.scopes.join(" "),
      environment: input.environment,
      project_id: input.projectId,
      client_id: ACCESS_TOKEN_CLIENT,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.issuer)
      .setSubject(input.ownerId)
      .setAudience(this.audience.length === 1 ? this.audience[0]! : this.audience)
      .setJti(randomBytes(16).toString("base64url"))
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.floor(input.ttlSeconds))
      .sign(key.privateKey);
  }

  /** A session's access token only: a key token answers `token_invalid` here. */
  async verify(token: string): Promise<AccessCheck> {
    const check = await this.check(token);
    if (!check.ok) return check;
    if (check.kind !== "session") return { ok: false, code: "token_invalid" };
    return { ok: true, claims: check.claims };
  }

  /** A session's or a key's access token, saying which. */
  async check(token: string): Promise<TokenCheck> {
    const known = this.verified.get(token);
    if (known) {
      if (known.claims.exp * 1000 > this.now()) return known;
      this.verified.delete(token);
      return { ok: false, code: "token_expired" };
    }
    const check = await this.verifySignature(token);
    if (check.ok) {
      if (this.verified.size >= VERIFIED_LIMIT)
        this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, check);
    }
    return check;
  }

  private async verifySignature(token: string): Promise<TokenCheck> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return { ok: false, code: "token_invalid" };
    }
    const key = this.keys.keys.find((k) => k.kid === kid);
    if (!key) return { ok: false, code: "token_invalid" };
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [key.alg],
        issuer: this.issuer,
        audience: this.audience,
        typ: ACCESS_TOKEN_TYPE,
        currentDate: new Date(this.now()),
        requiredClaims: ["sub", "exp", "iat", "jti"],
      });
      if (payload.token_use === KEY_TOKEN_USE) return keyClaims(payload);
      if (payload.token_use !== undefined || payload.key_id !== undefined)
        return { ok: false, code: "token_invalid" };
      const amr = Array.isArray(payload.amr)
        ? payload.amr.filter((v): v is string => typeof v === "string")
        : [];
      const authTime = payload.auth_time;
      if (
        typeof payload.sid !== "string" ||
        typeof authTime !== "number" ||
        authTime > payload.iat!
      )
        return { ok: false, code: "token_invalid" };
      return {
        ok: true,
        kind: "session",
        claims: {
          sub: payload.sub!,
          sid: payload.sid,
          amr,
          iat: payload.iat!,
          exp: payload.exp!,
          auth_time: authTime,
        },
      };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, code: "token_expired" };
      return { ok: false, code: "token_invalid" };
    }
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.keys.map((k) => k.publicJwk) };
  }
}

function keyClaims(payload: JWTPayload): TokenCheck {
  const { key_id, owner_id, scope, environment, project_id } = payload;
  if (
    typeof key_id !== "string" ||
    owner_id !== payload.sub ||
    typeof scope !== "string" ||
    (environment !== "live" && environment !== "test") ||
    (project_id !== null && typeof project_id !== "string") ||
    payload.sid !== undefined ||
    payload.exp! - payload.iat! > KEY_TOKEN_MAX_TTL_S
  )
    return { ok: false, code: "token_invalid" };
  return {
    ok: true,
    kind: "key",
    claims: {
      sub: payload.sub!,
      key_id,
      environment,
      project_id,
      scopes: scope === "" ? [] : scope.split(" "),
      jti: payload.jti!,
      iat: payload.iat!,
      exp: payload.exp!,
    },
  };
}

export { looksLikeJwt } from "../../core/key-format.js";
