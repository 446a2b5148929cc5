import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";

export interface PortalMeta {
  key_prefix: string;
}

let cached: Promise<PortalMeta> | null = null;

/** The instance's settings the portal shows (the key brand, `lk` unless configured). */
export function usePortalMeta(): PortalMeta {
  const [meta, setMeta] = useState<PortalMeta>({ key_prefix: "lk" });
  useEffect(() => {
    cached ??= api.get<PortalMeta>("/v1/portal/meta").catch(() => ({ key_prefix: "lk" }));
    void cached.then(setMeta);
  }, []);
  return meta;
}
