// The public API, and nothing else: every call carries the bearer token; errors arrive as
// {"error": {"code", "message"}} (docs/api.md) and become ApiError with that code.

import config from "../config.js";
import { currentSession } from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A write the client may retry carries one Idempotency-Key for all its attempts.
export function idempotencyKey() {
  return crypto.randomUUID();
}

const RETRYABLE = new Set(["rate_limited", "payment_provider_unavailable", "retry_later", "network"]);

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

async function send(method, path, { body, key, query } = {}) {
  const session = currentSession();
  const headers = { Accept: "application/json" };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const search = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null))}` : "";
  let response;
  try {
    response = await fetch(`${config.apiBase}${path}${search}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  const answer = await response.json().catch(() => null);
  if (response.ok) return answer;
  // Deployed, API Gateway's own 401 is {"message": "Unauthorized"}: key on the status.
  const code = answer?.error?.code ?? (response.status === 401 ? "unauthenticated" : `http_${response.status}`);
  const message = answer?.error?.message ?? answer?.message ?? response.statusText;
  if (response.status === 401) window.dispatchEvent(new CustomEvent("coins:unauthenticated"));
  throw new ApiError(response.status, code, message);
}

// Retries a write a few times with the same key when the failure says trying again is safe.
async function write(method, path, options, attempts = 3) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await request(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError) || !RETRYABLE.has(error.code) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

export const api = {
  wallet: () => request("GET", "/v1/wallet"),
  history: (cursor, limit = 10) => request("GET", "/v1/wallet/transactions", { query: { limit, cursor } }),
  packages: () => request("GET", "/v1/catalog/packages"),
  gifts: () => request("GET", "/v1/catalog/gifts"),
  checkout: (packageId, paymentMethod, key) =>
    write("POST", "/v1/checkout", { body: { package_id: packageId, payment_method: paymentMethod }, key }),
  sendGift: ({ creatorId, giftId, quantity, streamId }, key) =>
    write("POST", "/v1/gifts", {
      body: { creator_id: creatorId, gift_id: giftId, quantity, stream_id: streamId },
      key,
    }),
  earnings: () => request("GET", "/v1/creator/earnings"),
  becomeCreator: () => write("POST", "/v1/creator/profile", {}),
  startStream: (title, key) => write("POST", "/v1/streams", { body: title ? { title } : {}, key }),
  endStream: (streamId) => write("POST", `/v1/streams/${encodeURIComponent(streamId)}/end`, {}),
  stream: (streamId) => request("GET", `/v1/streams/${encodeURIComponent(streamId)}`),
  streamTop: (streamId, limit) => request("GET", `/v1/streams/${encodeURIComponent(streamId)}/top`, { query: { limit } }),
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
};
