import { formatCount } from "../format.js";
import type { Count } from "../types.js";

const HOUR = 3_600_000;
const HOUR_LABEL = new Intl.DateTimeFormat("en", { hour: "numeric" });
const DAY_LABEL = new Intl.DateTimeFormat("en", {
  month: "short",
  day: "numeric",
  hour: "numeric",
});

/**
 * Calls per hour over the last day, as an SVG bar chart. Sizes are SVG attributes, not
 * inline styles, so the portal's CSP (style-src 'self') holds.
 */
export function CallsOverTime({
  hours,
  now = Date.now(),
}: {
  hours: { hour: number; count: number }[];
  now?: number;
}) {
  const last = Math.max(Math.floor(now / HOUR) * HOUR, ...hours.map((h) => h.hour));
  const buckets = Array.from({ length: 24 }, (_, i) => {
    const hour = last - (23 - i) * HOUR;
    return { hour, count: hours.find((h) => h.hour === hour)?.count ?? 0 };
  });
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  const peak = Math.max(1, ...buckets.map((b) => b.count));
  const step = 10;
  return (
    <figure class="chart">
      <div class="chart-plot">
        <span class="chart-max" aria-hidden="true">
          {formatCount(peak)}
        </span>
        <svg
          class="chart-svg"
          viewBox={`0 0 ${buckets.length * step} 100`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`${formatCount(total)} calls in the last 24 hours; busiest hour ${formatCount(peak)} calls`}
        >
          {[25, 50, 75].map((y) => (
            <line key={y} class="chart-grid" x1="0" x2={buckets.length * step} y1={y} y2={y} />
          ))}
          {buckets.map((b, i) => {
            const height = b.count === 0 ? 0 : Math.max(2, (b.count / peak) * 96);
            return (
              <rect
                key={b.hour}
                class="chart-bar"
                x={i * step + 1.5}
                width={step - 3}
                y={100 - height}
                height={height}
              >
                <title>{`${DAY_LABEL.format(b.hour)}: ${formatCount(b.count)} calls`}</title>
              </rect>
            );
          })}
        </svg>
      </div>
      <figcaption class="chart-axis" aria-hidden="true">
        <span>{HOUR_LABEL.format(buckets[0]!.hour)}</span>
        <span>{HOUR_LABEL.format(buckets[12]!.hour)}</span>
        <span>{HOUR_LABEL.format(buckets[23]!.hour)}</span>
      </figcaption>
    </figure>
  );
}

/** A ranked list with proportional bars: calls by endpoint, by project. */
export function BarList({ items, empty, mono }: { items: Count[]; empty: string; mono?: boolean }) {
  if (items.length === 0) return <p class="muted chart-empty">{empty}</p>;
  const top = Math.max(1, ...items.map((i) => i.count));
  return (
    <ul class="bar-list">
      {items.slice(0, 8).map((item) => (
        <li key={item.label}>
          <div class="bar-list-row">
            <span class={mono ? "bar-list-label mono" : "bar-list-label"}>{item.label}</span>
            <span class="bar-list-count">{formatCount(item.count)}</span>
          </div>
          <svg class="bar-track" viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true">
            <rect class="bar-track-bg" width="100" height="4" />
            <rect class="bar-track-fill" width={Math.max(1, (item.count / top) * 100)} height="4" />
          </svg>
        </li>
      ))}
    </ul>
  );
}
