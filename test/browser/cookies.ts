/** A cookie jar just big enough for the portal's session cookies over plain fetch. */
export interface SetCookie {
  name: string;
  value: string;
  attributes: Map<string, string>;
  raw: string;
}

export function parseSetCookies(headers: Headers): SetCookie[] {
  return headers.getSetCookie().map((raw) => {
    const [pair, ...attrs] = raw.split(";").map((s) => s.trim());
    const eq = pair!.indexOf("=");
    const attributes = new Map<string, string>();
    for (const attr of attrs) {
      const i = attr.indexOf("=");
      if (i < 0) attributes.set(attr.toLowerCase(), "");
      else attributes.set(attr.slice(0, i).toLowerCase(), attr.slice(i + 1));
    }
    return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes, raw };
  });
}

export class Jar {
  readonly cookies = new Map<string, string>();

  take(headers: Headers): SetCookie[] {
    const set = parseSetCookies(headers);
    for (const c of set) {
      if (c.value === "" || c.attributes.get("max-age") === "0") this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return set;
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}
