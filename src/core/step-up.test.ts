import { expect, it } from "vitest";
import { ScopeCatalogue } from "./scopes.js";
import { isPrivilegedKey, isRecentAuthentication } from "./step-up.js";

const MAX = 600_000;

it("counts an authentication as recent strictly under the maximum age", () => {
  const at = Date.UTC(2026, 0, 1);
  expect(isRecentAuthentication(at, at + MAX - 1_000, MAX)).toBe(true);
  expect(isRecentAuthentication(at, at + MAX, MAX)).toBe(false);
  expect(isRecentAuthentication(at, at + MAX + 1_000, MAX)).toBe(false);
  expect(isRecentAuthentication(at + 5_000, at, MAX)).toBe(true);
  expect(isRecentAuthentication(undefined, at, MAX)).toBe(false);
  expect(isRecentAuthentication(Number.NaN, at, MAX)).toBe(false);
});

it("calls a live key with admin:* or a write scope, as granted or reachable, privileged", () => {
  const catalogue = new ScopeCatalogue();
  expect(isPrivilegedKey(catalogue, "live", ["services:read", "logs:read"])).toBe(false);
  expect(isPrivilegedKey(catalogue, "live", ["registry:*"])).toBe(false);
  for (const grants of [["services:write"], ["keys:write"], ["admin:*"], ["*"], ["billing:*"]])
    expect(isPrivilegedKey(catalogue, "live", grants), grants.join()).toBe(true);
  expect(isPrivilegedKey(catalogue, "test", ["*", "admin:*"])).toBe(false);
});
