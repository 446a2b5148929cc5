import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { CheckIcon, CopyIcon } from "./icons.js";

type Tone = "neutral" | "success" | "danger" | "warning" | "info" | "accent";

export function Badge({
  tone = "neutral",
  children,
}: {
  tone?: Tone;
  children: ComponentChildren;
}) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

/** A key's status; an active key its owner disabled reads "Disabled". */
export function StatusBadge({ status, enabled = true }: { status: string; enabled?: boolean }) {
  if (status === "active" && !enabled) return <Badge tone="warning">Disabled</Badge>;
  const tone = status === "active" ? "success" : status === "revoked" ? "danger" : "neutral";
  return <Badge tone={tone}>{status[0]!.toUpperCase() + status.slice(1)}</Badge>;
}

export function EnvBadge({ environment }: { environment: "live" | "test" }) {
  return environment === "live" ? (
    <Badge tone="accent">Live</Badge>
  ) : (
    <Badge tone="warning">Test</Badge>
  );
}

/** Copies text to the clipboard and says so, visibly and to screen readers. */
export function CopyButton({
  text,
  label = "Copy",
  class: extra = "",
}: {
  text: string;
  label?: string;
  class?: string;
}) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const timer = useRef<number>();
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
    clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setState("idle"), 2500);
  };
  return (
    <button type="button" class={`button button-secondary ${extra}`} onClick={copy}>
      {state === "copied" ? <CheckIcon /> : <CopyIcon />}
      <span aria-live="polite">
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed — select it" : label}
      </span>
    </button>
  );
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children}
    </div>
  );
}

let firstPage = true;

/** A page's heading; it takes focus after a navigation so screen readers announce the page. */
export function PageHeader({
  title,
  description,
  actions,
  meta,
  children,
}: {
  title: string;
  description?: ComponentChildren;
  actions?: ComponentChildren;
  /** Shown under the title (badges, prefix). */
  meta?: ComponentChildren;
  children?: ComponentChildren;
}) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Latchkey`;
    if (firstPage) firstPage = false;
    else ref.current?.focus();
  }, [title]);
  return (
    <div class="page-header">
      <div class="page-header-text">
        {children}
        <h1 ref={ref} tabIndex={-1}>
          {title}
        </h1>
        {meta}
        {description && <p class="muted">{description}</p>}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </div>
  );
}

const toastListeners = new Set<(message: string) => void>();

export function toast(message: string): void {
  for (const listener of toastListeners) listener(message);
}

/** Short confirmations ("Key revoked"), in a polite live region. */
export function Toaster({ path }: { path: string }) {
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => setMessage(null), [path]);
  useEffect(() => {
    let timer = 0;
    const show = (text: string) => {
      setMessage(text);
      clearTimeout(timer);
      timer = window.setTimeout(() => setMessage(null), 4000);
    };
    toastListeners.add(show);
    return () => {
      toastListeners.delete(show);
      clearTimeout(timer);
    };
  }, []);
  return (
    <div class="toaster" role="status" aria-live="polite">
      {message && (
        <div class="toast">
          <CheckIcon />
          <span>{message}</span>
        </div>
      )}
    </div>
  );
}
