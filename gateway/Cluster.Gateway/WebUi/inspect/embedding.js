// (b) Embedding: each token's row of the embedding table, its length and its nearest rows by cosine similarity.
import { el, show, tokenColour, tokenText, visible } from "./dom.js";
import { tokenLabel } from "./tokenization.js";

export function renderEmbedding(section, response) {
  const tokens = response.tokenization?.tokens ?? [];
  const characters = response.tokenization?.characters ?? [];
  const rows = response.embedding ?? [];
  const longest = Math.max(1e-9, ...rows.map((r) => r.norm ?? 0));
  const table = el(
    "table",
    { class: "embedding" },
    el("thead", {}, el("tr", {}, el("th", {}, "token"), el("th", {}, "id"), el("th", {}, "norm"), el("th", {}, "nearest tokens (cosine similarity)"))),
    el(
      "tbody",
      {},
      rows.map((row, i) => {
        const token = tokens[i] ?? { id: row.id, text: "", piece: "" };
        return el(
          "tr",
          { dataset: { id: String(row.id) } },
          el("td", {}, el("span", { class: "token small", style: { background: tokenColour(i) } }, visible(tokenLabel(token, characters).label))),
          el("td", { class: "num" }, String(row.id)),
          el(
            "td",
            { class: "num" },
            el("span", { class: "norm-bar", style: { width: `${(60 * (row.norm ?? 0)) / longest}px` } }),
            ` ${Number(row.norm ?? 0).toFixed(3)}`,
          ),
          el(
            "td",
            {},
            (row.nearest ?? []).map((n) =>
              el("span", { class: "neighbour", title: `id ${n.id} · piece ${JSON.stringify(n.piece)}` }, tokenText(n), el("small", {}, ` ${Number(n.similarity).toFixed(3)}`)),
            ),
          ),
        );
      }),
    ),
  );
  show(section.querySelector(".content"), rows.length ? table : el("p", { class: "muted" }, "No embedding rows in the response."));
}
