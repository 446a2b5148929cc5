import { describe, expect, it } from "vitest";
import { passwordChangedMail, portalLink, verifyEmailMail } from "./templates.js";

describe("account mails", () => {
  it("builds portal links under the public URL, with the token as ?token=", () => {
    expect(portalLink("https://a.example/", "verify-email", "lkv_x")).toBe(
      "https://a.example/verify-email?token=lkv_x",
    );
    expect(portalLink("https://a.example/portal", "reset-password", "lkp_y")).toBe(
      "https://a.example/portal/reset-password?token=lkp_y",
    );
  });

  it("puts the link in both parts and escapes what goes into the HTML", () => {
    const url = "https://a.example/verify-email?token=lkv_x&x=<b>";
    const mail = verifyEmailMail("ada@example.test", url);
    expect(mail.text.split(url)).toHaveLength(2);
    expect(mail.html).toContain("&lt;b&gt;");
    expect(mail.html).not.toContain("<b>");
    expect(mail.html).toContain(
      'href="https://a.example/verify-email?token=lkv_x&amp;x=&lt;b&gt;"',
    );
  });

  it("sends notices without any link", () => {
    for (const how of ["changed", "reset"] as const) {
      const mail = passwordChangedMail("ada@example.test", how);
      expect(mail.text).not.toMatch(/https?:|token/);
      expect(mail.html).not.toMatch(/href|token/);
    }
  });
});
