// (f) Sampling playground: move temperature, top-k and top-p and see, step by step, what the sampler does with the
// next-token logits (Inspect with `sampling`: after temperature, how many tokens survive each filter, what the draw
// is made from). "Sample continuations" generates a few short continuations with the same settings.
import { inspect, generate } from "./api.js";
import { debounce, el, show } from "./dom.js";
import { probabilityBars } from "./charts.js";

const CONTINUATIONS = 4;
const CONTINUATION_TOKENS = 16;

/** `prompt()` gives { model, text } of the inspected prompt; `report(error)` shows a failure. */
export function createSamplingPlayground(section, prompt, report) {
  const inputs = {
    temperature: section.querySelector("#temperature"),
    topK: section.querySelector("#top-k"),
    topP: section.querySelector("#top-p"),
  };
  const settings = () => ({
    temperature: Number(inputs.temperature.value),
    topK: Number(inputs.topK.value),
    topP: Number(inputs.topP.value),
  });
  const showValues = () => {
    const s = settings();
    section.querySelector("#temperature-value").textContent = s.temperature.toFixed(2);
    section.querySelector("#top-k-value").textContent = s.topK === 0 ? "off" : String(s.topK);
    section.querySelector("#top-p-value").textContent = s.topP >= 1 ? "off" : s.topP.toFixed(2);
  };

  let latest = 0; // only the newest request's answer is drawn: answers can arrive out of order
  async function refresh() {
    const { model, text } = prompt();
    if (!text) return;
    const asked = settings();
    const sequence = ++latest;
    section.dataset.state = "loading";
    try {
      const response = await inspect({ model, text, topN: 20, attention: false, sampling: asked });
      if (sequence !== latest) return;
      draw(response.sampler ?? {}, asked);
    } catch (error) {
      if (sequence === latest) {
        section.dataset.state = "error";
        report(error);
      }
    }
  }

  function draw(sampler, asked) {
    const survivors = [
      ["candidates", sampler.candidates],
      ["after min-p", sampler.keptAfterMinP],
      ["after top-k", sampler.keptAfterTopK],
      ["after top-p", sampler.keptAfterTopP],
    ];
    const most = Math.max(1, ...survivors.map(([, n]) => n ?? 0));
    show(
      section.querySelector("#after-temperature"),
      el("h4", {}, `After temperature ${asked.temperature.toFixed(2)}`),
      probabilityBars(sampler.afterTemperature ?? []),
    );
    show(
      section.querySelector("#survivors"),
      el("h4", {}, "Tokens that survive each filter"),
      sampler.greedy ? el("p", { class: "note" }, "Temperature ~0: greedy, the most likely token, no draw.") : null,
      survivors.map(([name, n]) =>
        el(
          "div",
          { class: "bar-row", dataset: { step: name, kept: String(n ?? 0) } },
          el("span", { class: "bar-label" }, name),
          el("span", { class: "bar-track" }, el("span", { class: "bar survivors", style: { width: `${(100 * Math.log1p(n ?? 0)) / Math.log1p(most)}%` } })),
          el("span", { class: "bar-value" }, String(n ?? 0)),
        ),
      ),
    );
    show(section.querySelector("#drawn-from"), el("h4", {}, "Drawn from (renormalised)"), probabilityBars(sampler.drawnFrom ?? []));
    Object.assign(section.dataset, {
      state: "ready",
      shownTemperature: String(asked.temperature),
      shownTopK: String(asked.topK),
      shownTopP: String(asked.topP),
    });
  }

  async function sampleContinuations() {
    const { model, text } = prompt();
    if (!text) return;
    const list = section.querySelector("#continuations");
    const asked = settings();
    show(list);
    list.dataset.state = "sampling";
    section.querySelector("#sample").disabled = true;
    try {
      await Promise.all(
        Array.from({ length: CONTINUATIONS }, async () => {
          const item = el("li", { class: "continuation" }, el("span", { class: "prompt-echo" }, "…"));
          list.append(item);
          const body = el("span", {});
          item.append(body);
          await generate({ model, text, sampling: { ...asked, maxNewTokens: CONTINUATION_TOKENS } }, (m) => body.append(m.text ?? ""));
        }),
      );
      list.dataset.state = "done";
    } catch (error) {
      list.dataset.state = "error";
      report(error);
    } finally {
      section.querySelector("#sample").disabled = false;
    }
  }

  const refreshSoon = debounce(refresh, 250);
  for (const input of Object.values(inputs)) {
    input.addEventListener("input", () => {
      showValues();
      refreshSoon();
    });
  }
  section.querySelector("#sample").addEventListener("click", sampleContinuations);
  showValues();
  return { refresh };
}
