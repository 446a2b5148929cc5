import { describe, expect, it } from "vitest";
import { secondFactorBody } from "./auth.js";
import {
  fields,
  isColorWanted,
  makeStyle,
  relativeTime,
  table,
  visibleWidth,
  wrap,
} from "./output.js";
import { keyTable, scopeSummary, type KeyRecord } from "./key-views.js";

const NOW = Date.parse("2026-03-10T12:00:00Z");
const plain = makeStyle(false);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("relativeTime", () => {
  it.each([
    [NOW, "just now"],
    [NOW - 30_000, "just now"],
    [NOW - 2 * MINUTE, "2 minutes ago"],
    [NOW - 61 * 1000, "1 minute ago"],
    [NOW - HOUR, "1 hour ago"],
    [NOW - 5 * HOUR, "5 hours ago"],
    [NOW - DAY, "1 day ago"],
    [NOW - 3 * DAY, "3 days ago"],
    [NOW + 90 * DAY, "in 3 months"],
    [NOW + 30 * DAY, "in 1 month"],
    [NOW + 365 * DAY, "in 1 year"],
    [NOW - 2 * 365 * DAY, "2 years ago"],
    [NOW + 10 * MINUTE, "in 10 minutes"],
  ])("says %s as %j", (at, expected) => {
    expect(relativeTime(at, NOW)).toBe(expected);
  });

  it("reads ISO strings as the server sends them", () => {
    expect(relativeTime(new Date(NOW - 2 * MINUTE).toISOString(), NOW)).toBe("2 minutes ago");
    expect(relativeTime("not a date", NOW)).toBe("unknown");
  });
});

describe("table", () => {
  it("aligns columns to their widest cell, right-aligns numbers, trims line ends", () => {
    const text = table(
      [{ header: "NAME" }, { header: "USAGE", align: "right" }, { header: "STATUS" }],
      [
        ["ci-deploy", "3,420", "active"],
        ["x", "7", "revoked"],
      ],
      plain,
    );
    expect(text).toBe(
      "NAME       USAGE  STATUS\n" + "ci-deploy  3,420  active\n" + "x              7  revoked\n",
    );
  });

  it("measures coloured cells by what shows, not by their escape codes", () => {
    const colour = makeStyle(true);
    const text = table(
      [{ header: "A" }, { header: "B" }],
      [
        [colour.green("ok"), "1"],
        ["longer", "2"],
      ],
      colour,
    );
    const lines = text.trimEnd().split("\n");
    expect(lines.map(visibleWidth)).toEqual([9, 9, 9]);
    expect(text).toContain("\u001b[32mok\u001b[39m      1");
  });
});

describe("fields and wrap", () => {
  it("aligns labels and leaves out missing values", () => {
    expect(
      fields(
        [
          ["Email", "a@b.c"],
          ["Project", null],
          ["Environment", "live"],
        ],
        plain,
      ),
    ).toBe("Email        a@b.c\nEnvironment  live\n");
  });

  it("wraps words at the width with a hanging indent", () => {
    expect(wrap(["aaaa", "bbbb", "cccc"], 9, 2)).toBe("aaaa bbbb\n  cccc");
  });
});

describe("colour", () => {
  it("is on only for a terminal without NO_COLOR and not TERM=dumb", () => {
    expect(isColorWanted({ write: () => 0, isTTY: true }, {})).toBe(true);
    expect(isColorWanted({ write: () => 0, isTTY: false }, {})).toBe(false);
    expect(isColorWanted({ write: () => 0, isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(isColorWanted({ write: () => 0, isTTY: true }, { NO_COLOR: "" })).toBe(true);
    expect(isColorWanted({ write: () => 0, isTTY: true }, { TERM: "dumb" })).toBe(false);
    expect(makeStyle(false).red("x")).toBe("x");
  });
});

describe("key list", () => {
  const key = (over: Partial<KeyRecord>): KeyRecord => ({
    id: "key_1",
    name: "ci-deploy",
    prefix: "lk_live_AbCd",
    environment: "live",
    scopes: ["services:read", "services:write"],
    project_id: null,
    created_at: new Date(NOW - 10 * DAY).toISOString(),
    expires_at: new Date(NOW + 90 * DAY).toISOString(),
    last_used_at: new Date(NOW - 2 * MINUTE).toISOString(),
    usage_count: 3420,
    revoked_at: null,
    status: "active",
    description: null,
    meta: null,
    enabled: true,
    disabled_at: null,
    leaked_at: null,
    leak_source: null,
    remaining: null,
    refill: null,
    ratelimits: [],
    org_id: null,
    created_by: null,
    ...over,
  });

  it("shows id, name, prefix, env, scopes, last used, usage, expiry and status", () => {
    const text = keyTable(
      [
        key({}),
        key({
          id: "key_2",
          name: "old",
          prefix: "lk_test_XyZw",
          environment: "test",
          last_used_at: null,
          expires_at: null,
          usage_count: 0,
          status: "revoked",
        }),
      ],
      plain,
      NOW,
    );
    const [header, first, second] = text.trimEnd().split("\n");
    expect(header!.split(/\s{2,}/)).toEqual([
      "ID",
      "NAME",
      "PREFIX",
      "ENV",
      "SCOPES",
      "LAST USED",
      "USAGE",
      "EXPIRES",
      "STATUS",
    ]);
    expect(first).toMatch(
      /^key_1 +ci-deploy +lk_live_AbCd… +live +services:read,services:write +2 minutes ago +3,420 +in 3 months +active$/,
    );
    expect(second).toMatch(/^key_2 +old +lk_test_XyZw… +test +.* +never +0 +never +revoked$/);
  });

  it("says how to make a first key when there is none", () => {
    expect(keyTable([], plain, NOW)).toContain("latchkey token create");
  });

  it("summarises long scope lists with +N", () => {
    expect(scopeSummary(["a:read"])).toBe("a:read");
    const many = ["services:read", "services:write", "logs:read", "metrics:read", "keys:read"];
    const summary = scopeSummary(many, 36);
    expect(summary).toMatch(/^services:read,services:write \+3$/);
    expect(summary.length).toBeLessThanOrEqual(36);
  });
});

describe("second-factor answers", () => {
  it("treats six digits as a TOTP code and anything else as a backup code", () => {
    expect(secondFactorBody("123456")).toEqual({ code: "123456" });
    expect(secondFactorBody(" 123 456 ")).toEqual({ code: "123456" });
    expect(secondFactorBody("abcd-efgh-jkmn")).toEqual({ backup_code: "abcd-efgh-jkmn" });
  });
});
