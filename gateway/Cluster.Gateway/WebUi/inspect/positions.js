// (c) Positions: how the model tells positions apart, from Inspect's `positions` field (computed on the stage that
// holds the embeddings). Rotary models: { rotary: { base, headDim, frequencies[], positions, distances[], similarity[] } },
// the similarity of a fixed query and key rotated `distance` apart; learned position tables (GPT-2):
// { learned: { positions, distances[], similarity[] } }, the mean similarity of position vectors that far apart.
// Distances run 0 to 256 one by one, then about 5% apart to the context length: a second chart shows the far range.
import { el, show } from "./dom.js";
import { lineChart } from "./charts.js";

export function renderPositions(section, response) {
  const content = section.querySelector(".content");
  const positions = response.positions;
  const kind = positions?.rotary ? "rotary" : positions?.learned ? "learned" : null;
  if (!kind) {
    section.dataset.kind = "none";
    show(content, el("p", { class: "muted" }, "Inspect reported no positions for this model."));
    return;
  }
  section.dataset.kind = kind;
  const data = positions[kind];
  const distances = data.distances ?? [];
  const points = (data.similarity ?? []).map((y, i) => ({ x: Number(distances[i] ?? i), y: Number(y) }));
  const near = points.filter((p) => p.x <= 256);
  const frequencies = (data.frequencies ?? []).map(Number);
  const facts =
    kind === "rotary"
      ? `Rotary: each head's query and key (head_dim ${data.headDim}) are rotated pair of dimensions by pair, by position × ` +
        `frequency, so their dot product depends on how far apart they are. Base ${data.base}; ${frequencies.length} ` +
        `frequencies from ${frequencies[0]?.toPrecision(3)} to ${frequencies.at(-1)?.toPrecision(3)} radians per token ` +
        `(wavelengths ${(2 * Math.PI / frequencies[0]).toFixed(1)} to ${(2 * Math.PI / frequencies.at(-1)).toPrecision(3)} tokens). ` +
        "The curves: the similarity of a fixed query and key (all ones) that far apart."
      : `Learned: a trained vector per position (${data.positions} of them) is added to each token's embedding. ` +
        "The curves: how similar position vectors that far apart are, on average.";
  show(
    content,
    el("p", {}, facts),
    points.length > 1
      ? el(
          "div",
          { class: "charts" },
          lineChart(near, { xLabel: "distance (tokens)", yLabel: "similarity" }),
          points.length > near.length ? lineChart(points, { xLabel: "distance (tokens)", yLabel: "similarity" }) : null,
        )
      : el("p", { class: "muted" }, "No similarity by distance in the response."),
  );
}
