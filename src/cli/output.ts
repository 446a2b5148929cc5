/** Everything the CLI prints: JSON for scripts, aligned tables and relative times for people. */

export type Format = "json" | "table";

export interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

export type Paint = (text: string) => string;
export type Style = Record<keyof typeof CODES, Paint>;

/** ANSI styles, or identity functions when colour is off. */
export function makeStyle(enabled: boolean): Style {
  const style = {} as Style;
  for (const [name, [open, close]] of Object.entries(CODES)) {
    style[name as keyof Style] = enabled ? (t) => `\u001b[${open}m${t}\u001b[${close}m` : (t) => t;
  }
  return style;
}

/** Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function isColorWanted(stream: Stream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, "")].length;
}

export interface Column {
  header: string;
  align?: "left" | "right";
}

/** Columns padded to their widest cell, two spaces apart; trailing spaces trimmed. */
export function table(columns: readonly Column[], rows: readonly string[][], style: Style): string {
  const widths = columns.map((c, i) =>
    Math.max(visibleWidth(c.header), ...rows.map((r) => visibleWidth(r[i] ?? ""))),
  );
  const line = (cells: readonly string[], paint: Paint = (t) => t) =>
    cells
      .map((cell, i) => {
        const pad = " ".repeat(widths[i]! - visibleWidth(cell));
        return columns[i]!.align === "right" ? pad + paint(cell) : paint(cell) + pad;
      })
      .join("  ")
      .trimEnd();
  const header = line(
    columns.map((c) => c.header),
    style.bold,
  );
  return [header, ...rows.map((r) => line(r))].join("\n") + "\n";
}

/** `label  value` lines with the labels aligned (values may span lines); null values are left out. */
export function fields(pairs: readonly [string, string | null][], style: Style): string {
  const shown = pairs.filter((p): p is [string, string] => p[1] !== null);
  const width = Math.max(0, ...shown.map(([label]) => label.length));
  const hang = "\n" + " ".repeat(width + 2);
  return (
    shown
      .map(([label, value]) => `${style.dim(label.padEnd(width))}  ${value.replaceAll("\n", hang)}`)
      .join("\n") + "\n"
  );
}

/** Words joined by spaces, broken into lines of at most `width` characters (a long word stays whole). */
export function wrap(words: readonly string[], width: number, indent = 0): string {
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join("\n" + " ".repeat(indent));
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MONTH = 30.44 * DAY;
const YEAR = 365.25 * DAY;

// Built on first use: loading ICU data costs tens of milliseconds at every start otherwise.
let phrase: Intl.RelativeTimeFormat | undefined;

export function toEpoch(at: string | number): number {
  return typeof at === "number" ? at : Date.parse(at);
}

/** "2 minutes ago", "in 3 months", "just now": rounded the way people say it. */
export function relativeTime(at: string | number, now: number = Date.now()): string {
  const diff = toEpoch(at) - now;
  const size = Math.abs(diff);
  if (Number.isNaN(size)) return "unknown";
  if (size < 45 * SECOND) return "just now";
  const sign = Math.sign(diff);
  const say = (value: number, unit: Intl.RelativeTimeFormatUnit) =>
    (phrase ??= new Intl.RelativeTimeFormat("en", { numeric: "always" })).format(
      sign * Math.max(1, Math.round(value)),
      unit,
    );
  if (size < 45 * MINUTE) return say(size / MINUTE, "minute");
  if (size < 22 * HOUR) return say(size / HOUR, "hour");
  if (size < 26 * DAY) return say(size / DAY, "day");
  if (size < 320 * DAY) return say(size / MONTH, "month");
  return say(size / YEAR, "year");
}

/** "Jan 5, 2026", for dates that matter more than their distance. */
export function calendarDate(at: string | number): string {
  return new Date(toEpoch(at)).toLocaleDateString("en-US", {
    year: "numeric",
    month: "short",
    day: "numeric",
    timeZone: "UTC",
  });
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export function plural(n: number, word: string): string {
  return `${count(n)} ${word}${n === 1 ? "" : "s"}`;
}

/** Where a command writes: stdout gets the result, stderr the talk around it. */
export class Output {
  readonly style: Style;
  readonly errStyle: Style;

  constructor(
    readonly format: Format,
    private readonly stdout: Stream,
    private readonly stderr: Stream,
    env: NodeJS.ProcessEnv,
  ) {
    this.style = makeStyle(isColorWanted(stdout, env));
    this.errStyle = makeStyle(isColorWanted(stderr, env));
  }

  get isJson(): boolean {
    return this.format === "json";
  }

  /** The command's result: `value` as JSON with -o json, else the text `render` makes. */
  result(value: unknown, render: (style: Style) => string): void {
    if (this.isJson) this.stdout.write(JSON.stringify(value, null, 2) + "\n");
    else this.stdout.write(render(this.style));
  }

  /** Data written as it is, whatever the format (an export: NDJSON lines). */
  data(text: string): void {
    this.stdout.write(text);
  }

  /** Text meant for the person at the terminal; with -o json it goes to stderr. */
  say(text: string): void {
    (this.isJson ? this.stderr : this.stdout).write(text.endsWith("\n") ? text : text + "\n");
  }

  /** The style matching where `say` writes. */
  get sayStyle(): Style {
    return this.isJson ? this.errStyle : this.style;
  }

  warn(text: string): void {
    this.stderr.write(`${this.errStyle.yellow("warning:")} ${text}\n`);
  }
}
