import type { AuditLog } from "../audit/audit.js";
import type { Sessions, SessionTokens } from "./sessions.js";

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

/**
 * The last step of every sign-in, shared by the password step (Accounts) and the code
 * step (TwoFactor), so neither needs the other: the session starts and the login is audited.
 */
export class LoginSessions {
  constructor(
    private readonly sessions: Sessions,
    private readonly audit: AuditLog,
  ) {}

  /** Starts the session once every factor has passed. */
  async finish(userId: string, amr: string[], meta: RequestMeta): Promise<SessionTokens> {
    const tokens = await this.sessions.start({
      userId,
      amr,
      ip: meta.ip,
      userAgent: meta.userAgent,
    });
    await this.audit.record({ event: "login", userId, actor: null, ip: meta.ip, details: { amr } });
    return tokens;
  }
}
