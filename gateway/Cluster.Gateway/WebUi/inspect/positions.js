// (c) Positions: how the model tells positions apart. Rendered from Inspect's `positions` field when the gateway
// reports it: rotary models give { rotary: { base, frequencies[], similarity[] } }, learned position embeddings give
// { learned: { similarity[] } }, similarity indexed by relative distance. Until then, a note.
import { el, show } from "./dom.js";
import { lineChart } from "./charts.js";

export function renderPositions(section, response) {
  const content = section.querySelector(".content");
  const positions = response.positions;
  const kind = positions?.rotary ? "rotary" : positions?.learned ? "learned" : null;
  if (!kind) {
    section.dataset.kind = "none";
    show(content, el("p", { class: "muted" }, "This gateway's Inspect reports no positions field (yet): nothing to draw."));
    return;
  }
  section.dataset.kind = kind;
  const data = positions[kind];
  const similarity = (data.similarity ?? []).map((y, x) => ({ x, y: Number(y) }));
  const facts =
    kind === "rotary"
      ? `Rotary position embedding: base ${data.base}, ${(data.frequencies ?? []).length} frequencies (${(data.frequencies ?? [])
          .slice(0, 3)
          .map((f) => Number(f).toPrecision(3))
          .join(", ")}…).`
      : "Learned position embeddings (a table row per position).";
  show(
    content,
    el("p", {}, facts),
    similarity.length > 1
      ? lineChart(similarity, { xLabel: "relative distance", yLabel: "similarity" })
      : el("p", { class: "muted" }, "No similarity by distance in the response."),
  );
}
