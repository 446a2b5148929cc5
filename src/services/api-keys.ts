import { LatchkeyError } from "../core/errors.js";
import { parseKey } from "../core/key-format.js";
import type { Principal } from "../http/auth.js";
import type { Context } from "./context.js";
import { sha256 } from "./secrets.js";
import type { Users } from "./users.js";

export interface KeyRequest {
  ip: string;
  endpoint: string;
}

/** API keys as credentials for Latchkey's own routes. */
export class ApiKeys {
  constructor(
    private readonly ctx: Context,
    private readonly users: Users,
  ) {}

  async authenticate(rawKey: string, _request: KeyRequest): Promise<Principal> {
    if (!parseKey(rawKey, this.ctx.config.keyBrand))
      throw new LatchkeyError("key_invalid", "API key is not valid");
    const row = await this.ctx.db
      .selectFrom("api_keys")
      .selectAll()
      .where("key_hash", "=", sha256(rawKey))
      .executeTakeFirst();
    if (!row) throw new LatchkeyError("key_invalid", "API key is not valid");
    const now = this.ctx.now();
    if (row.revoked_at !== null && row.revoked_at <= now)
      throw new LatchkeyError("key_revoked", "API key has been revoked");
    if (row.expires_at !== null && row.expires_at <= now)
      throw new LatchkeyError("key_expired", "API key has expired");
    const user = await this.users.access(row.owner_id);
    if (!user || user.disabled) throw new LatchkeyError("key_invalid", "API key is not valid");
    const scopes = new Set(
      this.ctx.catalogue.effective(JSON.parse(row.scopes) as string[], user.access),
    );
    return {
      type: "api_key",
      user,
      sessionId: null,
      amr: [],
      key: {
        id: row.id,
        environment: row.environment as "live" | "test",
        projectId: row.project_id,
      },
      scopes,
    };
  }
}
