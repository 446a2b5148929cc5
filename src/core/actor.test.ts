import { describe, expect, it } from "vitest";
import { actorOf } from "./actor.js";

describe("actorOf", () => {
  it("names a key before a session, and nobody as null", () => {
    expect(actorOf({ keyId: "k1", sessionId: "s1" })).toBe("key:k1");
    expect(actorOf({ sessionId: "s1" })).toBe("session:s1");
    expect(actorOf({ keyId: null, sessionId: null })).toBeNull();
  });
});
