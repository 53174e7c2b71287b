// (g) Generate: a continuation streamed token by token through the HTTP/JSON Generate route (one GenerateResponse
// per line), each token shown with its alternatives (top log-probabilities). Same seed and settings, same tokens.
import { generate } from "./api.js";
import { el, percent, show, visible } from "./dom.js";

const TOP_LOGPROBS = 5;

export function createGeneratePanel(section, prompt, report) {
  const output = section.querySelector("#generated");
  const summary = section.querySelector("#generate-summary");
  const run = section.querySelector("#generate-run");
  const stop = section.querySelector("#generate-stop");
  let abort = null;

  function tokenChip(message) {
    const chosen = message.logprobs ?? [];
    const ids = message.tokenIds ?? [];
    const alternatives = chosen.flatMap((c) => c.top ?? []);
    const pieceOf = (id) => alternatives.find((a) => a.tokenId === id)?.piece;
    const label = message.text ? visible(message.text) : ids.map((id) => pieceOf(id) ?? `#${id}`).join("");
    return el(
      "span",
      {
        class: "gen-token",
        dataset: { tokenIds: ids.join(" ") },
        title: `token ${ids.join(", ")}${chosen.length ? ` · log-probability ${chosen.map((c) => Number(c.logprob).toFixed(3)).join(", ")}` : ""}`,
      },
      el("span", { class: "gen-text" }, label),
      el(
        "span",
        { class: "alternatives" },
        chosen.slice(0, 1).flatMap((c) =>
          (c.top ?? []).map((a) =>
            el("span", { class: a.tokenId === c.tokenId ? "alternative chosen" : "alternative" }, `${visible(a.piece)} ${percent(Math.exp(Number(a.logprob)))}`),
          ),
        ),
      ),
    );
  }

  async function start() {
    const { model, text } = prompt();
    if (!text) return;
    const sampling = {
      temperature: Number(section.querySelector("#generate-temperature").value),
      maxNewTokens: Number(section.querySelector("#generate-max-tokens").value),
    };
    const seed = section.querySelector("#generate-seed").value.trim();
    if (seed !== "") sampling.seed = seed; // uint64: sent as a string, as Protobuf's JSON mapping allows
    abort = new AbortController();
    show(output);
    show(summary);
    section.dataset.state = "streaming";
    run.disabled = true;
    stop.disabled = false;
    try {
      await generate({ model, text, sampling, logprobs: true, topLogprobs: TOP_LOGPROBS }, (message) => {
        if ((message.tokenIds ?? []).length) output.append(tokenChip(message));
        if (message.finishReason && message.finishReason !== "FINISH_REASON_UNSPECIFIED") {
          const usage = message.usage ?? {};
          const timings = message.timings ?? {};
          show(
            summary,
            `${message.finishReason.replace("FINISH_REASON_", "").toLowerCase()} · ${usage.promptTokens} prompt + ${usage.generatedTokens} generated tokens · first token after ${Number(timings.timeToFirstTokenSeconds ?? 0).toFixed(3)} s`,
          );
        }
      }, abort.signal);
      section.dataset.state = "done";
    } catch (error) {
      section.dataset.state = error.name === "AbortError" ? "stopped" : "error";
      if (error.name !== "AbortError") report(error);
    } finally {
      run.disabled = false;
      stop.disabled = true;
    }
  }

  run.addEventListener("click", start);
  stop.addEventListener("click", () => abort?.abort());
}
