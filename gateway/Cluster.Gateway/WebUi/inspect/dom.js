// Small DOM helpers. Model output is only ever set as text (textContent, attributes), never parsed as markup.

/** el("div", { class: "x", dataset: { id: 3 }, title: "..." }, child, "text", ...) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "style") Object.assign(node.style, value);
    else if (name === "class") node.className = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

/** Replaces a container's content. */
export function show(container, ...children) {
  container.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

/** Makes white space and control characters in a token's text visible: space ␣, newline ↵, tab →, other C0 controls as ␀…␟, DEL and C1 controls as ␡. */
export function visible(text) {
  return (
    (text ?? "")
      .replace(/ /g, "␣")
      .replace(/\n/g, "↵")
      .replace(/\t/g, "→")
      .replace(/[\u0000-\u001f]/g, (c) => String.fromCharCode(0x2400 + c.charCodeAt(0)))
      .replace(/[\u007f-\u009f]/g, "␡") || "∅"
  );
}

/**
 * What to show for a token of a list ({ text, piece }): its text, unless it holds only part of a character's bytes
 * (U+FFFD in its text), then its vocabulary piece, which at least tells such tokens apart.
 */
export const tokenText = (t) => visible((t.text ?? "").includes("\uFFFD") ? t.piece : t.text);

export const percent = (p) => `${(100 * p).toFixed(p >= 0.1 ? 1 : 2)}%`;

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A palette of light hues that keep text readable; tokens take them in turn. */
export const tokenColour = (i) => `hsl(${(i * 47) % 360} 80% 85%)`;
