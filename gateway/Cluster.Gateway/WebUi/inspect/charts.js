// Plain charts: probability bars (HTML) and a line chart (SVG). No library: a few dozen lines do.
import { el, percent, svg, tokenText } from "./dom.js";

/**
 * A list of tokens with bars of their probability, most likely first. Rows carry data-token-id and data-probability
 * (the number the bar shows), so what is drawn can be read back.
 */
export function probabilityBars(entries, { limit = 12, scaleToFirst = false } = {}) {
  const shown = entries.slice(0, limit);
  const top = scaleToFirst && shown.length ? Math.max(shown[0].probability ?? 0, 1e-9) : 1;
  return el(
    "div",
    { class: "bars" },
    shown.map((t) =>
      el(
        "div",
        {
          class: "bar-row",
          title: `id ${t.id} · piece ${JSON.stringify(t.piece)} · log-probability ${Number(t.logprob).toFixed(4)}`,
          dataset: { tokenId: String(t.id), probability: String(t.probability) },
        },
        el("span", { class: "bar-label" }, tokenText(t)),
        el("span", { class: "bar-track" }, el("span", { class: "bar", style: { width: `${(100 * (t.probability ?? 0)) / top}%` } })),
        el("span", { class: "bar-value" }, percent(t.probability ?? 0)),
      ),
    ),
    entries.length > limit ? el("div", { class: "muted" }, `… ${entries.length - limit} more`) : null,
  );
}

/** A small line chart of y against x (e.g. similarity against distance), with its axes' ranges written out. */
export function lineChart(points, { xLabel, yLabel, width = 520, height = 180 } = {}) {
  const pad = { left: 44, right: 10, top: 10, bottom: 30 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const [yMin, yMax] = [Math.min(0, ...ys), Math.max(1e-9, ...ys)];
  const x = (v) => pad.left + ((v - xMin) / Math.max(1e-9, xMax - xMin)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - yMin) / Math.max(1e-9, yMax - yMin)) * (height - pad.top - pad.bottom);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ");
  return svg(
    "svg",
    { class: "line-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `${yLabel} against ${xLabel}` },
    svg("line", { x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0), stroke: "#bbb" }),
    svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom, stroke: "#bbb" }),
    svg("path", { d: path, fill: "none", stroke: "#2563eb", "stroke-width": 1.5 }),
    svg("text", { x: pad.left, y: height - 8, "font-size": 11 }, `${xLabel}: ${xMin} … ${xMax}`),
    svg("text", { x: 2, y: pad.top + 10, "font-size": 11 }, yMax.toFixed(2)),
    svg("text", { x: 2, y: height - pad.bottom, "font-size": 11 }, yMin.toFixed(2)),
    svg("text", { x: width - pad.right, y: pad.top + 10, "font-size": 11, "text-anchor": "end" }, yLabel),
  );
}
