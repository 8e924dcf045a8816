// The public API, and nothing else: every call carries the bearer token (renewed through the
// refresh token when it is about to expire, or once when the API refuses it); errors arrive as
// {"error": {"code", "message"}} (docs/api.md) and become ApiError with that code, and with the
// seconds a 429's Retry-After asks to wait.

import config from "../config.js";
import { accessToken, canRenew } from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// A write the client may retry carries one Idempotency-Key for all its attempts.
export function idempotencyKey() {
  return crypto.randomUUID();
}

// Failures of the way there, not refusals: the same write is sent again with the same key. A 429 is
// a refusal for now: never retried here, its Retry-After is shown and counted down (errors.js).
const TRANSIENT = new Set(["payment_provider_unavailable", "retry_later", "network"]);
const MAX_AUTOMATIC_WAIT_S = 5;

// One request in flight per tab. No page needs two answers at once, and the local gateway calls a
// function's handler from several threads while a Lambda container serves one request at a time:
// two overlapping calls to one function there can be answered with each other's validation.
let inFlight = Promise.resolve();
function oneAtATime(task) {
  const turn = inFlight.then(task, task);
  inFlight = turn.catch(() => {});
  return turn;
}

function request(method, path, options = {}) {
  return oneAtATime(() => send(method, path, options));
}

// Retry-After is seconds or an HTTP date (RFC 9110, 10.2.3).
function retryAfterOf(response) {
  const raw = response.headers.get("Retry-After");
  if (!raw) return null;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const when = Date.parse(raw);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

// `background`: a read no one asked for just now (a poll, a board refreshing). When the session has
// ended it does not take the person away from what they are doing (app.js).
async function send(method, path, { body, key, query, background = false } = {}) {
  const search = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null))}` : "";
  const call = async (token) => {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    try {
      return await fetch(`${config.apiBase}${path}${search}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "The server could not be reached.");
    }
  };
  let token = await accessToken();
  let response = await call(token);
  if (response.status === 401 && token && canRenew()) {
    // The API refused a token the app thought valid (revoked, a clock off): renew once and resend.
    token = await accessToken({ force: true });
    if (token) response = await call(token);
  }
  const answer = await response.json().catch(() => null);
  if (response.ok) return answer;
  // Deployed, API Gateway's own 401 and 429 are {"message": ...}: key on the status.
  const byStatus = { 401: "unauthenticated", 429: "rate_limited" }[response.status];
  const code = answer?.error?.code ?? byStatus ?? `http_${response.status}`;
  const message = answer?.error?.message ?? answer?.message ?? response.statusText;
  if (response.status === 401) window.dispatchEvent(new CustomEvent("coins:unauthenticated", { detail: { background } }));
  throw new ApiError(response.status, code, message, retryAfterOf(response));
}

// Sends a write again, with the same key, after a failure of the way there (never after a refusal).
async function write(method, path, options, attempts = 3) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await request(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError) || !TRANSIENT.has(error.code) || attempt >= attempts) throw error;
      const wait = error.retryAfter ?? 0.3 * attempt;
      if (wait > MAX_AUTOMATIC_WAIT_S) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
  }
}

// `background` on the reads that polls and boards repeat (see send).
export const api = {
  wallet: ({ background } = {}) => request("GET", "/v1/wallet", { background }),
  history: (cursor, limit = 10, { background } = {}) => request("GET", "/v1/wallet/transactions", { query: { limit, cursor }, background }),
  packages: () => request("GET", "/v1/catalog/packages"),
  gifts: () => request("GET", "/v1/catalog/gifts"),
  checkout: (packageId, paymentMethod, key) =>
    write("POST", "/v1/checkout", { body: { package_id: packageId, payment_method: paymentMethod }, key }),
  sendGift: ({ creatorId, giftId, quantity, streamId }, key) =>
    write("POST", "/v1/gifts", {
      body: { creator_id: creatorId, gift_id: giftId, quantity, stream_id: streamId },
      key,
    }),
  earnings: ({ background } = {}) => request("GET", "/v1/creator/earnings", { background }),
  becomeCreator: () => write("POST", "/v1/creator/profile", {}),
  startStream: (title, key) => write("POST", "/v1/streams", { body: title ? { title } : {}, key }),
  endStream: (streamId) => write("POST", `/v1/streams/${encodeURIComponent(streamId)}/end`, {}),
  stream: (streamId) => request("GET", `/v1/streams/${encodeURIComponent(streamId)}`),
  streamTop: (streamId, limit, { background } = {}) =>
    request("GET", `/v1/streams/${encodeURIComponent(streamId)}/top`, { query: { limit }, background }),
  onboarding: () => write("POST", "/v1/creator/onboarding", {}),
  withdraw: (diamonds, key) => write("POST", "/v1/creator/withdrawals", { body: { diamonds }, key }),
  reviews: (cursor) => request("GET", "/v1/admin/reviews", { query: { limit: 20, cursor } }),
  setStatus: (userId, status, reason) =>
    write("POST", `/v1/admin/accounts/${encodeURIComponent(userId)}/status`, { body: { status, reason } }),
  adjust: ({ userId, unit, amount, reason, source }, key) =>
    write("POST", "/v1/admin/adjustments", {
      body: { user_id: userId, unit, amount, reason, ...(source ? { source } : {}) },
      key,
    }),
  pendingAdjustments: (cursor) => request("GET", "/v1/admin/adjustments/pending", { query: { limit: 20, cursor } }),
  approveAdjustment: (adjustmentId) => write("POST", `/v1/admin/adjustments/${encodeURIComponent(adjustmentId)}/approve`, {}),
};
