import { LatchkeyError } from "../../core/errors.js";
import type { KeyTokenClaims } from "../accounts/tokens.js";
import { KEY_TOKEN_MAX_TTL_S } from "../accounts/tokens.js";
import type { Users } from "../accounts/users.js";
import { keyUniverse, type KeyCreators } from "../orgs/access.js";
import { allowsEnvironment } from "../orgs/policy.js";
import type { Deps } from "../deps.js";
import type { Principal } from "../principal.js";
import type { CachedKey, KeyCache } from "./cache.js";

/** What `POST /v1/keys/exchange` asks for. */
export interface ExchangeInput {
  /** Narrower scopes for the token (grants, as a key's); default: all the key's effective ones. */
  scopes?: string[] | undefined;
  /** Seconds; capped at 15 minutes. */
  expires_in?: number | undefined;
}

export interface Exchanged {
  token: string;
  /** Seconds the token lives (what was asked for, capped). */
  expiresIn: number;
  /** Epoch milliseconds. */
  expiresAt: number;
  scopes: string[];
  keyId: string;
  ownerId: string;
  environment: "live" | "test";
  projectId: string | null;
}

export const KEY_TOKEN_DEFAULT_TTL_S = 300;

/** Key ids whose hash this instance knows (a key's hash never changes), for the key cache. */
const HASHES_LIMIT = 100_000;

/**
 * Short-lived tokens from a key (issue 20 item 6). The exchange itself is a use of the key:
 * the route authenticates the raw key through the KeyChecker (revoked, disabled, expired,
 * address, rate limit) and counts it in the key's usage, as any key call. Here: the scopes
 * narrowed, the lifetime capped, the token signed by the session tokens' signer (one JWKS).
 *
 * A token presented back to Latchkey's own API acts as its key, narrowed, and only while the
 * key is usable: its row comes from the verification's own key cache (dropped on every
 * `key_changed` from any instance through the bus, and compared with the key's shared change
 * version when there is Redis).
 */
export class KeyExchange {
  private readonly hashes = new Map<string, string>();

  constructor(
    private readonly deps: Deps,
    private readonly users: Users,
    private readonly cache: KeyCache,
    private readonly creators: KeyCreators,
  ) {}

  async exchange(principal: Principal, input: ExchangeInput): Promise<Exchanged> {
    const key = principal.key;
    if (principal.type !== "api_key" || !key || principal.exchanged)
      throw new LatchkeyError(
        "forbidden",
        "only an API key can be exchanged: send the key itself as the bearer credential",
      );
    const scopes = this.narrowed(principal.scopes, input.scopes);
    const now = this.deps.now();
    // Never past the key's own end: a token must not outlive what it stands for.
    const keyLeft =
      key.expiresAt == null ? Infinity : Math.max(1, Math.floor((key.expiresAt - now) / 1000));
    const expiresIn = Math.min(
      input.expires_in ?? KEY_TOKEN_DEFAULT_TTL_S,
      KEY_TOKEN_MAX_TTL_S,
      keyLeft,
    );
    const token = await this.deps.tokens.signKeyToken({
      keyId: key.id,
      ownerId: principal.user.id,
      environment: key.environment,
      projectId: key.projectId,
      scopes,
      ttlSeconds: expiresIn,
    });
    return {
      token,
      expiresIn,
      expiresAt: (Math.floor(now / 1000) + expiresIn) * 1000,
      scopes,
      keyId: key.id,
      ownerId: principal.user.id,
      environment: key.environment,
      projectId: key.projectId,
    };
  }

  /** The scopes asked for, as concrete scopes, each within the key's effective ones. */
  private narrowed(effective: ReadonlySet<string>, asked: string[] | undefined): string[] {
    if (asked === undefined) return [...effective].sort();
    const { catalogue } = this.deps;
    const unknown = new Set(catalogue.unknownGrants(asked));
    const beyond = new Set(catalogue.ungrantable(asked, effective));
    const refused = asked.filter((grant) => unknown.has(grant) || beyond.has(grant));
    if (refused.length > 0)
      throw new LatchkeyError(
        "scope_not_grantable",
        "a token cannot carry scopes its key does not have",
        {
          details: refused.map((grant) => ({
            field: `scopes.${asked.indexOf(grant)}`,
            message: unknown.has(grant) ? `unknown scope: ${grant}` : `not the key's: ${grant}`,
          })),
        },
      );
    const scopes = catalogue.effective(asked, effective);
    if (scopes.length === 0)
      throw new LatchkeyError("scope_not_grantable", "the scopes asked for leave nothing", {
        details: [{ field: "scopes", message: "none of these is among the key's scopes" }],
      });
    return scopes;
  }

  /**
   * The principal of an exchanged token on Latchkey's own routes, or the key's refusal:
   * `key_revoked` for a token of a key revoked since (at or after its `iat`), `key_disabled`,
   * `key_expired`, `policy_violation` for an organization's key whose environment its policy no
   * longer allows. Its scopes are the token's ∩ the key's effective scopes now.
   */
  async principal(claims: KeyTokenClaims): Promise<Principal> {
    const state = await this.state(claims.key_id);
    const now = this.deps.now();
    if (!state || state.ownerId !== claims.sub)
      throw new LatchkeyError("token_invalid", "access token is not valid");
    if (state.revokedAt !== null && state.revokedAt <= now)
      throw new LatchkeyError("key_revoked", "the key this token was exchanged for is revoked");
    if (state.expiresAt !== null && state.expiresAt <= now)
      throw new LatchkeyError("key_expired", "the key this token was exchanged for has expired");
    if (state.disabledAt !== null && state.leakedAt !== null)
      throw new LatchkeyError("key_leaked", "the key this token was exchanged for is quarantined");
    if (state.disabledAt !== null)
      throw new LatchkeyError("key_disabled", "the key this token was exchanged for is disabled");
    const owner = await this.users.access(state.ownerId);
    if (!owner || owner.disabled) throw new LatchkeyError("token_invalid", "account is disabled");
    // An organization's policy changed since the exchange binds the token as it binds the key.
    if (owner.org !== undefined && !allowsEnvironment(owner.org.policy, state.environment))
      throw new LatchkeyError(
        "policy_violation",
        "the organization no longer allows keys of this environment",
      );
    const creator =
      owner.org !== undefined && state.createdBy !== null
        ? await this.creators.get(owner.id, state.createdBy)
        : null;
    const universe = keyUniverse(owner, creator);
    const current = new Set(this.deps.catalogue.effective(state.grants, universe));
    return {
      type: "api_key",
      user: owner,
      sessionId: null,
      amr: [],
      key: { id: claims.key_id, environment: claims.environment, projectId: claims.project_id },
      exchanged: true,
      scopes: new Set(claims.scopes.filter((scope) => current.has(scope))),
    };
  }

  /**
   * The key's cached row by id. With a shared limiter (Redis) each use also compares the key's
   * change version, bumped by revoke, disable and edit before they answer (as KeyChecker does),
   * so another instance's revocation holds here from the moment its DELETE answers.
   */
  private async state(keyId: string): Promise<CachedKey | null> {
    const hash = await this.hashOf(keyId);
    if (hash === null) return null;
    const { limiter } = this.deps;
    const version = limiter.sharesVersions ? await limiter.version(hash) : null;
    const known = this.cache.peek(hash);
    if (known && (version === null || version === known.version)) return known;
    if (known === null) return null;
    return this.cache.load(hash, version, { shared: known === undefined });
  }

  private async hashOf(keyId: string): Promise<string | null> {
    const known = this.hashes.get(keyId);
    if (known !== undefined) return known;
    const [row] = await this.deps.store.keys.byIds([keyId]);
    if (!row) return null;
    if (this.hashes.size >= HASHES_LIMIT) this.hashes.delete(this.hashes.keys().next().value!);
    this.hashes.set(keyId, row.key_hash);
    return row.key_hash;
  }
}
