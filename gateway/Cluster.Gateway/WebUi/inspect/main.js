// The page's wiring: API key, model and prompt; "Inspect" calls the Inspect route once and every panel draws its
// part of the answer. Panels mark themselves data-state="ready" when drawn (what the browser test waits on).
import { apiKey, inspect, listModels } from "./api.js";
import { el, show } from "./dom.js";
import { renderTokenization } from "./tokenization.js";
import { renderEmbedding } from "./embedding.js";
import { renderPositions } from "./positions.js";
import { renderAttention } from "./attention.js";
import { renderLogitLens } from "./logitlens.js";
import { createSamplingPlayground } from "./sampling.js";
import { createGeneratePanel } from "./generate.js";

const $ = (selector) => document.querySelector(selector);
const MODEL_STORAGE = "cluster.inspect.model";

const status = $("#status");
function report(error) {
  status.className = "status error";
  status.textContent = error?.message ?? String(error);
}
function inform(text) {
  status.className = "status";
  status.textContent = text;
}

const prompt = () => ({ model: $("#model").value, text: $("#prompt").value });

async function loadModels() {
  try {
    const { models = [] } = await listModels();
    const saved = localStorage.getItem(MODEL_STORAGE);
    show(
      $("#model"),
      models.map((m) =>
        el("option", { value: m.name, selected: saved ? m.name === saved : m.isDefault }, `${m.name} · ${m.architecture}, ${m.layers} layers, ${m.vocabularySize} tokens`),
      ),
    );
    $("#model").dataset.state = "ready";
    inform(models.length ? "Type a prompt and press Inspect (Ctrl+Enter)." : "The gateway serves no model.");
  } catch (error) {
    $("#model").dataset.state = "error";
    report(error);
  }
}

const panels = [
  ["#tokenization", renderTokenization],
  ["#embedding", renderEmbedding],
  ["#positions", renderPositions],
  ["#attention", renderAttention],
  ["#logit-lens", renderLogitLens],
];

async function runInspect() {
  const { model, text } = prompt();
  if (!text) {
    report(new Error("prompt is empty: type a text to inspect"));
    return;
  }
  inform("Inspecting…");
  for (const [selector] of panels) $(selector).dataset.state = "loading";
  try {
    // The logit lens at every position is for short texts (64 tokens): asked for, and dropped when the text is longer.
    const response = await inspect({ model, text, topN: 8, lensAllPositions: true }).catch((error) =>
      String(error?.message).includes("lens_all_positions") ? inspect({ model, text, topN: 8 }) : Promise.reject(error),
    );
    for (const [selector, render] of panels) {
      render($(selector), response);
      $(selector).dataset.state = "ready";
    }
    const tokens = response.tokenization?.tokens?.length ?? 0;
    inform(`${tokens} tokens through ${response.logitLens?.length ? response.logitLens.length - 1 : "?"} layers.`);
    sampling.refresh();
  } catch (error) {
    for (const [selector] of panels) $(selector).dataset.state = "error";
    report(error);
  }
}

const sampling = createSamplingPlayground($("#sampling"), prompt, report);
createGeneratePanel($("#generate"), prompt, report);

$("#api-key").value = apiKey.get();
$("#api-key").addEventListener("change", () => {
  apiKey.set($("#api-key").value.trim());
  loadModels();
});
$("#model").addEventListener("change", () => localStorage.setItem(MODEL_STORAGE, $("#model").value));
$("#run").addEventListener("click", runInspect);
$("#prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runInspect();
});
loadModels();
