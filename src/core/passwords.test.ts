import { expect, it } from "vitest";
import { checkPassword } from "./passwords.js";

it("accepts a long, unusual password", () => {
  expect(checkPassword("correct horse battery staple")).toBeNull();
});

it("enforces 10 to 256 characters, counting characters not bytes", () => {
  expect(checkPassword("123456789")).toBe("too_short");
  expect(checkPassword("ééééééééé")).toBe("too_short");
  expect(checkPassword("é".repeat(256))).not.toBe("too_long");
  expect(checkPassword("x".repeat(257))).toBe("too_long");
});

it("refuses common passwords whatever their case, repeats, and the email itself", () => {
  expect(checkPassword("Password123")).toBe("too_common");
  expect(checkPassword("QWERTYUIOP")).toBe("too_common");
  expect(checkPassword("zzzzzzzzzzzz")).toBe("too_common");
  expect(checkPassword("ada@example.com", "ada@example.com")).toBe("too_common");
});
