// (a) Tokenization: the text as the model's tokens, beside the same text as words and as characters.
import { el, show, tokenColour, visible } from "./dom.js";

/**
 * What a token covers of the input, for display. A byte-level token can hold part of a character's UTF-8 bytes (a
 * Hangul syllable is 3 bytes, an emoji 4): its own text is then U+FFFD, so show the character(s) its span falls in,
 * marked partial, and let the title give the byte range.
 */
export function tokenLabel(token, characters) {
  const text = token.text ?? "";
  if (!text.includes("\uFFFD")) return { label: text, partial: false };
  const covered = characters.slice(token.charStart ?? 0, token.charEnd ?? 0).map((c) => c.text).join("");
  return { label: covered || text, partial: true };
}

export function tokenTitle(token, index) {
  const bytes = token.byteEnd > token.byteStart ? `bytes [${token.byteStart}, ${token.byteEnd})` : "not in the text";
  return `#${index} · id ${token.id} · piece ${JSON.stringify(token.piece)}${token.special ? " (special)" : ""} · ${bytes} · characters [${token.charStart}, ${token.charEnd})`;
}

function tokenChip(token, index, characters) {
  const { label, partial } = tokenLabel(token, characters);
  return el(
    "span",
    {
      class: `token${partial ? " partial" : ""}${token.special ? " special" : ""}`,
      title: tokenTitle(token, index),
      style: { background: tokenColour(index) },
      dataset: { index: String(index), id: String(token.id), piece: token.piece ?? "" },
    },
    el("span", { class: "token-text" }, token.special ? token.piece : visible(label)),
    el("span", { class: "token-piece" }, token.piece ?? ""),
    el("span", { class: "token-id" }, String(token.id)),
  );
}

function spanChips(spans, kind) {
  return spans.map((s, i) =>
    el("span", { class: `span-chip ${kind}`, title: `${kind} ${i}: characters [${s.charStart}, ${s.charEnd})` }, visible(s.text)),
  );
}

export function renderTokenization(section, response) {
  const view = response.tokenization ?? {};
  const tokens = view.tokens ?? [];
  const words = view.words ?? [];
  const characters = view.characters ?? [];
  const counts = [
    ["tokens", tokens.length],
    ["words", words.length],
    ["characters", characters.length],
    ["UTF-8 bytes", view.utf8Bytes ?? 0],
  ];
  show(
    section.querySelector(".counts"),
    counts.map(([name, n]) => el("span", { class: "count", dataset: { count: name } }, el("b", {}, String(n)), ` ${name}`)),
    characters.length > 0 ? el("span", { class: "count muted" }, `${(characters.length / Math.max(1, tokens.length)).toFixed(2)} characters per token`) : null,
  );
  show(section.querySelector("#tokens"), tokens.map((t, i) => tokenChip(t, i, characters)));
  show(section.querySelector("#words"), spanChips(words, "word"));
  show(section.querySelector("#characters"), spanChips(characters, "character"));
}
