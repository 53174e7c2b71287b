// The gateway's HTTP/JSON routes (gRPC JSON transcoding of cluster.v1.Generation): request and response bodies are
// the .proto messages in Protobuf's JSON mapping (lowerCamelCase field names). Every call sends the API key typed
// into the page as `Authorization: Bearer`; a refusal is google.rpc.Status as JSON, {code, message}.

const KEY_STORAGE = "cluster.inspect.apiKey";

export const apiKey = {
  get: () => localStorage.getItem(KEY_STORAGE) ?? "",
  set: (key) => (key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE)),
};

/** A refusal from the gateway, with its HTTP status and gRPC code. */
export class ApiError extends Error {
  constructor(httpStatus, code, message) {
    super(message);
    this.httpStatus = httpStatus;
    this.code = code;
  }
}

function headers(json) {
  const h = { Accept: "application/json" };
  if (json) h["Content-Type"] = "application/json";
  const key = apiKey.get();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function refusal(response) {
  const body = await response.text();
  try {
    const status = JSON.parse(body);
    const hint = response.status === 401 ? " (enter a valid API key above)" : "";
    return new ApiError(response.status, status.code, `${status.message ?? body}${hint}`);
  } catch {
    return new ApiError(response.status, undefined, `HTTP ${response.status}: ${body || response.statusText}`);
  }
}

async function call(method, path, body, signal) {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await refusal(response);
  return response.json();
}

export const listModels = (signal) => call("GET", "/api/v1/models", undefined, signal);
export const tokenize = (request, signal) => call("POST", "/api/v1/tokenize", request, signal);
export const inspect = (request, signal) => call("POST", "/api/v1/inspect", request, signal);

/**
 * Generate, streamed: the route answers one GenerateResponse per line as tokens are sampled; onMessage gets each.
 * A failure after the stream began arrives as a last line holding a status instead of a response.
 */
export async function generate(request, onMessage, signal) {
  const response = await fetch("/api/v1/generate", { method: "POST", headers: headers(true), body: JSON.stringify(request), signal });
  if (!response.ok) throw await refusal(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const handle = (line) => {
    if (!line.trim()) return;
    const message = JSON.parse(line);
    if ("code" in message && "message" in message && !("tokenIds" in message)) {
      throw new ApiError(response.status, message.code, message.message);
    }
    onMessage(message);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      handle(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  handle(pending);
}
