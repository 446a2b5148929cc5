/** Durations as users write them (`30d`, `90d`, `24h`, `1y`, `15m`, `45s`, `2w`). */
const UNITS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

const DURATION = /^([1-9][0-9]{0,5})([smhdwy])$/;

/** Milliseconds, or null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  return ms <= 100 * UNITS.y! ? ms : null;
}

/** The largest whole unit that writes `ms` exactly (`90d`, `36h`), as parseDuration reads it. */
export function formatDuration(ms: number): string {
  for (const unit of ["y", "w", "d", "h", "m", "s"]) {
    const size = UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.ceil(ms / 1000)}s`;
}
