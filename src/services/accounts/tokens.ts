import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWK } from "jose";
import type { SigningKeySet } from "../../infra/secrets.js";

export interface AccessClaims {
  sub: string;
  sid: string;
  amr: string[];
  iat: number;
  exp: number;
}

export type AccessCheck =
  { ok: true; claims: AccessClaims } | { ok: false; code: "token_expired" | "token_invalid" };

/** Signs and verifies access tokens with the instance's key set (newest key signs). */
/** Verified tokens remembered until they expire, so a busy session pays for one signature check. */
const VERIFIED_LIMIT = 10_000;

export class AccessTokens {
  private readonly verified = new Map<string, Readonly<AccessClaims>>();

  constructor(
    private readonly keys: SigningKeySet,
    private readonly issuer: string,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  async sign(input: { userId: string; sessionId: string; amr: string[] }): Promise<string> {
    const key = this.keys.keys[0]!;
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ sid: input.sessionId, amr: input.amr })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
      .setIssuer(this.issuer)
      .setSubject(input.userId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .sign(key.privateKey);
  }

  async verify(token: string): Promise<AccessCheck> {
    const known = this.verified.get(token);
    if (known) {
      if (known.exp * 1000 > this.now()) return { ok: true, claims: known };
      this.verified.delete(token);
      return { ok: false, code: "token_expired" };
    }
    const check = await this.verifySignature(token);
    if (check.ok) {
      if (this.verified.size >= VERIFIED_LIMIT)
        this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, check.claims);
    }
    return check;
  }

  private async verifySignature(token: string): Promise<AccessCheck> {
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
        currentDate: new Date(this.now()),
        requiredClaims: ["sub", "sid", "exp", "iat"],
      });
      const amr = Array.isArray(payload.amr)
        ? payload.amr.filter((v): v is string => typeof v === "string")
        : [];
      if (typeof payload.sid !== "string") return { ok: false, code: "token_invalid" };
      return {
        ok: true,
        claims: { sub: payload.sub!, sid: payload.sid, amr, iat: payload.iat!, exp: payload.exp! },
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

export { looksLikeJwt } from "../../core/key-format.js";
