// Calling Tandem's JSON APIs (the chat API, the expert API) from a page: one request, its time limit, and
// the three ways it can fail, which the pages tell apart.
//
// - ApiError: the API answered with an error. The function answers {error: {message, field?, ...}}; API
//   Gateway's own refusals (its authorizer, its throttling) answer {message}. `problem` is that object.
// - NetworkError: no answer (the network, or no answer within the time limit).
// - Cancelled: the caller aborted the request through its `signal`.

export class ApiError extends Error {
  constructor(status, problem) {
    super(typeof problem.message === "string" ? problem.message : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.field = typeof problem.field === "string" ? problem.field : null; // the request field it names
  }
}

export class NetworkError extends Error {}

export class Cancelled extends Error {}

/** The JSON an API answers to `method url`, sent with `headers` and `body` (as JSON) within `timeoutMs`. */
export async function requestJson(method, url, { headers = {}, body, signal, timeoutMs }) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const cancel = () => controller.abort();
  if (signal) {
    if (signal.aborted) controller.abort();
    signal.addEventListener("abort", cancel, { once: true });
  }
  const sent = { Accept: "application/json", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers: sent, signal: controller.signal, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (controller.signal.aborted && !timedOut) throw new Cancelled("cancelled");
    throw new NetworkError(timedOut ? "the server did not answer in time" : "the server could not be reached");
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", cancel);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data.error || data : {};
    throw new ApiError(response.status, problem && typeof problem === "object" ? problem : {});
  }
  if (!data || typeof data !== "object") throw new ApiError(response.status, { message: "the answer was not JSON" });
  return data;
}
