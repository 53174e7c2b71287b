// (e) Logit lens: at each layer boundary, the last token's residual state read through the final norm and LM head:
// what the model would predict if it stopped there. Layer 0 is the embeddings; the last row is the real prediction.
import { el, percent, show, tokenText } from "./dom.js";

/** A cell's green, as strong as the token's probability. */
const shade = (probability) => `rgba(22, 163, 74, ${Math.min(1, Number(probability)).toFixed(3)})`;

export function renderLogitLens(section, response) {
  const layers = response.logitLens ?? [];
  const topN = Math.max(0, ...layers.map((l) => (l.top ?? []).length));
  const final = layers.at(-1)?.top?.[0]?.id;
  const table = el(
    "table",
    { class: "lens" },
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}, "layer"), el("th", {}, "stage"), el("th", {}, "silo"), el("th", {}, "‖h‖"), Array.from({ length: topN }, (_, i) => el("th", {}, `top ${i + 1}`))),
    ),
    el(
      "tbody",
      {},
      layers.map((l) =>
        el(
          "tr",
          { dataset: { layer: String(l.layer) } },
          el("td", { class: "num" }, String(l.layer)),
          el("td", { class: "num" }, String(l.stage)),
          el("td", { class: "silo" }, l.silo),
          el("td", { class: "num" }, Number(l.hiddenNorm).toFixed(2)),
          (l.top ?? []).map((t) =>
            el(
              "td",
              {
                class: `lens-cell${t.id === final ? " final" : ""}`,
                title: `id ${t.id} · piece ${JSON.stringify(t.piece)} · log-probability ${Number(t.logprob).toFixed(4)}`,
                style: { background: shade(t.probability) },
                dataset: { tokenId: String(t.id), probability: String(t.probability) },
              },
              el("span", {}, tokenText(t)),
              el("small", {}, ` ${percent(Number(t.probability))}`),
            ),
          ),
        ),
      ),
    ),
  );
  show(
    section.querySelector(".content"),
    layers.length ? el("div", { class: "table-scroll" }, table) : el("p", { class: "muted" }, "No logit lens in the response."),
    layers.length ? el("p", { class: "muted" }, "Outlined: the model's final top token, wherever an earlier layer already predicts it.") : null,
    everyPosition(response, layers),
  );
}

/**
 * The lens at every position (when the text was short enough to ask for it): a layer × token table whose cell is what
 * the model, stopped after that layer, would predict to follow that token; the bottom row is its real prediction.
 */
function everyPosition(response, layers) {
  const count = layers[0]?.positions?.length ?? 0;
  if (!count) return null;
  const tokens = [...(response.sessionTokens ?? []), ...(response.tokenization?.tokens ?? [])];
  return el(
    "div",
    {},
    el("h3", {}, "At every position"),
    el(
      "div",
      { class: "table-scroll" },
      el(
        "table",
        { class: "lens lens-positions" },
        el("thead", {}, el("tr", {}, el("th", {}, "layer \\ token"), tokens.slice(0, count).map((t) => el("th", {}, tokenText(t))))),
        el(
          "tbody",
          {},
          layers.map((l) =>
            el(
              "tr",
              { dataset: { layer: String(l.layer) } },
              el("td", { class: "num" }, String(l.layer)),
              l.positions.map((p) => {
                const best = p.top?.[0];
                const at = p.position ?? 0; // proto3 JSON leaves out zeros
                return el(
                  "td",
                  {
                    class: "lens-cell",
                    title: best ? `after layer ${l.layer}, following ${JSON.stringify(tokens[at]?.text ?? "")}: ${JSON.stringify(best.text)} ${percent(Number(best.probability))}` : "",
                    style: { background: shade(best?.probability ?? 0) },
                    dataset: { position: String(at), tokenId: String(best?.id ?? "") },
                  },
                  best ? tokenText(best) : "",
                );
              }),
            ),
          ),
        ),
      ),
    ),
  );
}
