import { LatchkeyError } from "../../core/errors.js";
import type { AccountTokenPurpose, AccountTokenRow } from "../../store/port.js";
import type { Deps } from "../deps.js";

/**
 * A mailed token that may still be spent: known, for `purpose`, unused and unexpired.
 * Otherwise 401 `token_invalid` (unknown, spent, superseded) or `token_expired`.
 */
export async function spendableToken(
  deps: Deps,
  tokenHash: string,
  purpose: AccountTokenPurpose | readonly AccountTokenPurpose[],
  what: string,
): Promise<AccountTokenRow> {
  const row = await deps.store.accountTokens.byHash(tokenHash);
  const purposes: readonly AccountTokenPurpose[] =
    typeof purpose === "string" ? [purpose] : purpose;
  if (!row || !purposes.includes(row.purpose) || row.used_at !== null)
    throw new LatchkeyError("token_invalid", `this ${what} is not valid or was already used`);
  if (row.expires_at <= deps.now())
    throw new LatchkeyError("token_expired", `this ${what} has expired; ask for a new one`);
  return row;
}
