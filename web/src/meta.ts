import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import type { PortalMeta, ProjectList } from "./types.js";

let cached: Promise<PortalMeta> | null = null;
const FALLBACK: PortalMeta = { key_prefix: "lk", require_verified_email: false };

/** The instance's settings the portal shows (the key brand, `lk` unless configured). */
export function usePortalMeta(): PortalMeta {
  const [meta, setMeta] = useState<PortalMeta>(FALLBACK);
  useEffect(() => {
    cached ??= api.get<PortalMeta>("/v1/portal/meta").catch(() => FALLBACK);
    void cached.then(setMeta);
  }, []);
  return meta;
}

/** Project names by id, for showing a key's project restriction in words. */
export function useProjectNames(): ReadonlyMap<string, string> {
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  useEffect(() => {
    api
      .get<ProjectList>("/v1/projects")
      .then((body) => setNames(new Map(body.projects.map((p) => [p.id, p.name]))))
      .catch(() => undefined);
  }, []);
  return names;
}
