import { describe, expect, it } from "vitest";
import { ADMIN_SCOPE, hasAll, ScopeCatalogue } from "./scopes.js";

const catalogue = new ScopeCatalogue();
const owner = catalogue.accessOf({ role: "owner", isStaff: false });
const member = catalogue.accessOf({ role: "member", isStaff: false });
const viewer = catalogue.accessOf({ role: "viewer", isStaff: false });
const staff = catalogue.accessOf({ role: "owner", isStaff: true });

describe("scope catalogue", () => {
  it("knows catalogue scopes, resource wildcards, * and admin:*, and nothing else", () => {
    expect(catalogue.unknownGrants(["services:read", "services:*", "*", ADMIN_SCOPE])).toEqual([]);
    expect(catalogue.unknownGrants(["services:fly", "nothing:*", "services", ""])).toEqual([
      "services:fly",
      "nothing:*",
      "services",
      "",
    ]);
  });

  it("gives roles nested access and admin:* only to staff", () => {
    for (const scope of viewer) expect(member.has(scope)).toBe(true);
    for (const scope of member) expect(owner.has(scope)).toBe(true);
    expect(member.has("billing:write")).toBe(false);
    expect(viewer.has("services:write")).toBe(false);
    expect(owner.has(ADMIN_SCOPE)).toBe(false);
    expect(staff.has(ADMIN_SCOPE)).toBe(true);
  });

  it("keeps keys:verify out of every role: staff and service accounts only", () => {
    for (const role of [owner, member, viewer]) expect(role.has("keys:verify")).toBe(false);
    expect(catalogue.effective(["*"], owner)).not.toContain("keys:verify");
    expect(staff.has("keys:verify")).toBe(true);
    const service = catalogue.accessOf({ role: "viewer", isStaff: false, isService: true });
    expect(service.has("keys:verify")).toBe(true);
    expect(service.has(ADMIN_SCOPE)).toBe(false);
    expect(catalogue.ungrantable(["keys:verify"], owner)).toEqual(["keys:verify"]);
  });

  it("computes a key's effective scopes as its grants ∩ the owner's current access", () => {
    expect(catalogue.effective(["services:*"], owner)).toEqual([
      "services:exec",
      "services:read",
      "services:write",
    ]);
    expect(catalogue.effective(["services:*"], viewer)).toEqual(["services:read"]);
    expect(catalogue.effective(["*"], viewer)).toEqual([...viewer].sort());
    expect(catalogue.effective([ADMIN_SCOPE], owner)).toEqual([]);
    expect(catalogue.effective([ADMIN_SCOPE], staff)).toEqual([ADMIN_SCOPE]);
  });

  it("refuses to grant what the owner lacks, but lets * mean whatever they have", () => {
    expect(catalogue.ungrantable(["billing:write"], member)).toEqual(["billing:write"]);
    expect(catalogue.ungrantable(["billing:*"], member)).toEqual(["billing:*"]);
    expect(catalogue.ungrantable([ADMIN_SCOPE], owner)).toEqual([ADMIN_SCOPE]);
    expect(catalogue.ungrantable(["*", "services:read"], viewer)).toEqual([]);
  });

  it("accepts narrowing and refuses widening", () => {
    expect(catalogue.isNarrowing(["services:*"], ["services:read"])).toBe(true);
    expect(catalogue.isNarrowing(["*"], ["logs:read"])).toBe(true);
    expect(catalogue.isNarrowing(["services:read"], ["services:read", "services:write"])).toBe(
      false,
    );
    expect(catalogue.isNarrowing(["services:read"], ["services:*"])).toBe(false);
    expect(catalogue.isNarrowing(["services:*"], ["*"])).toBe(false);
  });

  it("checks required scopes", () => {
    expect(hasAll(new Set(["a:b", "c:d"]), ["a:b"])).toBe(true);
    expect(hasAll(["a:b"], ["a:b", "c:d"])).toBe(false);
    expect(hasAll([], [])).toBe(true);
  });

  it("rejects a malformed catalogue at start", () => {
    expect(() => new ScopeCatalogue(["Bad Scope"])).toThrow(TypeError);
    expect(() => new ScopeCatalogue(["x:*"])).toThrow(TypeError);
  });
});
