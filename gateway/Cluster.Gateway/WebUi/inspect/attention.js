// (d) Attention: one heatmap per layer and head, query tokens down, key tokens across. Each cell carries its
// data-row (query position), data-col (key position) and data-weight, and a title naming both tokens and the weight.
import { el, show, visible } from "./dom.js";
import { tokenLabel } from "./tokenization.js";

let current = null; // { response, labels }

export function renderAttention(section, response) {
  const layers = response.attention ?? [];
  const layerSelect = section.querySelector("#attention-layer");
  const headSelect = section.querySelector("#attention-head");
  const characters = response.tokenization?.characters ?? [];
  current = { layers, labels: (response.tokenization?.tokens ?? []).map((t) => visible(tokenLabel(t, characters).label)) };
  if (!layers.length) {
    show(layerSelect);
    show(headSelect);
    show(section.querySelector(".content"), el("p", { class: "muted" }, "No attention weights in the response."));
    return;
  }
  const keepLayer = Math.min(layerSelect.selectedIndex < 0 ? 0 : layerSelect.selectedIndex, layers.length - 1);
  show(
    layerSelect,
    layers.map((l, i) => el("option", { value: String(i) }, `layer ${l.layer} (stage ${l.stage}, ${l.silo})`)),
  );
  layerSelect.selectedIndex = keepLayer;
  fillHeads(headSelect, layers[keepLayer].heads, headSelect.selectedIndex);
  layerSelect.onchange = () => {
    fillHeads(headSelect, layers[layerSelect.selectedIndex].heads, headSelect.selectedIndex);
    drawHeatmap(section);
  };
  headSelect.onchange = () => drawHeatmap(section);
  drawHeatmap(section);
}

function fillHeads(select, heads, keep) {
  show(select, Array.from({ length: heads }, (_, h) => el("option", { value: String(h) }, `head ${h}`)));
  select.selectedIndex = Math.min(Math.max(keep, 0), heads - 1);
}

/** Weights rescaled by a square root so that small weights stay visible beside a dominant one. */
const cellColour = (w) => `rgba(37, 99, 235, ${Math.sqrt(Math.max(0, w)).toFixed(3)})`;

function drawHeatmap(section) {
  const layerIndex = section.querySelector("#attention-layer").selectedIndex;
  const head = section.querySelector("#attention-head").selectedIndex;
  const layer = current.layers[layerIndex];
  const { rows, columns, firstRow, weights } = layer;
  const labels = current.labels;
  const header = el("tr", {}, el("th", { class: "corner" }, "query ↓ key →"), Array.from({ length: columns }, (_, c) => el("th", { class: "key", title: `key ${c}: ${labels[c]}` }, el("span", {}, labels[c]))));
  const body = Array.from({ length: rows }, (_, r) => {
    const query = firstRow + r;
    return el(
      "tr",
      {},
      el("th", { class: "query", title: `query ${query}: ${labels[query]}` }, labels[query]),
      Array.from({ length: columns }, (_, c) => {
        const w = Number(weights[(head * rows + r) * columns + c]);
        return el("td", {
          class: c > query ? "cell future" : "cell",
          style: { background: c > query ? "" : cellColour(w) },
          title: `query ${query} ${JSON.stringify(labels[query])} → key ${c} ${JSON.stringify(labels[c])}: ${w.toFixed(4)}`,
          dataset: { row: String(query), col: String(c), weight: String(w) },
        });
      }),
    );
  });
  section.dataset.layer = String(layer.layer);
  section.dataset.head = String(head);
  show(
    section.querySelector(".content"),
    el("p", { class: "muted" }, rows < columns ? `Only the last token's row: the text has more than 64 tokens.` : `Each row sums to 1; a token attends only to itself and earlier tokens.`),
    el("div", { class: "heatmap-scroll" }, el("table", { class: "heatmap" }, el("thead", {}, header), el("tbody", {}, body))),
  );
}
