// Who the app acts for: an access token and the refresh token that renews it, kept for this tab
// only (sessionStorage).
//
// Locally, the local stack mints the tokens for whoever you pick (POST /_local/token, which exists
// only there). Deployed, config.auth.provider = "cognito" sends you to the Cognito hosted UI and
// back with an authorization code, exchanged for tokens with PKCE; the app sends the access token,
// whose claims (sub, cognito:groups, country, birthdate) the API's JWT authorizer checks. Both
// issuers renew it the same way: the OAuth 2 refresh-token grant at their token endpoint.

import config from "../config.js";

const SESSION = "coins.session";
const PKCE = "coins.pkce";
const ADMIN_GROUP = "admins";
// Renew a little before the access token expires, so a request never leaves with a dying one.
const RENEW_EARLY_MS = 60_000;

export const provider = config.auth?.provider ?? "local";

function base64UrlDecode(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function base64UrlEncode(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The claims, for showing who is signed in and which pages to offer. The API checks the
// signature; the app never trusts these for anything but its own layout.
export function claimsOf(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a JWT");
  return JSON.parse(base64UrlDecode(parts[1]));
}

function groupsOf(claims) {
  const groups = claims["cognito:groups"];
  if (Array.isArray(groups)) return groups;
  if (typeof groups === "string") return groups.replace(/^\[|\]$/g, "").split(/[ ,]+/).filter(Boolean);
  return [];
}

function stored() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(SESSION) ?? "null");
    return kept && typeof kept.token === "string" ? { ...kept, claims: claimsOf(kept.token) } : null;
  } catch {
    sessionStorage.removeItem(SESSION);
    return null;
  }
}

function expiresAt(claims) {
  return typeof claims.exp === "number" ? claims.exp * 1000 : Infinity;
}

// Who is signed in: while the access token is valid, or a refresh token can renew it.
export function currentSession() {
  const kept = stored();
  if (!kept) return null;
  if (expiresAt(kept.claims) <= Date.now() && !kept.refreshToken) {
    sessionStorage.removeItem(SESSION);
    return null;
  }
  return { token: kept.token, claims: kept.claims, userId: kept.claims.sub, isAdmin: groupsOf(kept.claims).includes(ADMIN_GROUP) };
}

function keep(token, refreshToken) {
  claimsOf(token); // refuse anything that is not a JWT before keeping it
  sessionStorage.setItem(SESSION, JSON.stringify(refreshToken ? { token, refreshToken } : { token }));
}

export function signOut() {
  const kept = stored();
  sessionStorage.removeItem(SESSION);
  // Cognito keeps a refresh token valid after the hosted UI's logout: revoke it (RFC 7009).
  if (kept?.refreshToken && provider === "cognito") {
    fetch(`${config.auth.domain}/oauth2/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: kept.refreshToken, client_id: config.auth.clientId }),
      keepalive: true,
    }).catch(() => {});
  }
}

function tokenEndpoint() {
  return provider === "cognito" ? `${config.auth.domain}/oauth2/token` : `${config.apiBase}/_local/token`;
}

function clientId() {
  return provider === "cognito" ? config.auth.clientId : "coins-local";
}

// One renewal at a time: every request that finds the token stale waits for the same one.
let renewing = null;

async function renew(refreshToken) {
  let response;
  try {
    response = await fetch(tokenEndpoint(), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", client_id: clientId(), refresh_token: refreshToken }),
    });
  } catch {
    return null; // offline: the caller's request fails as a network error or a 401
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || typeof answer.access_token !== "string") {
    // invalid_grant: the refresh token expired or was revoked; the session is over.
    if (response.status >= 400 && response.status < 500) sessionStorage.removeItem(SESSION);
    return null;
  }
  // Cognito answers a new refresh token only when it rotates them; otherwise the old one stays.
  keep(answer.access_token, answer.refresh_token ?? refreshToken);
  return answer.access_token;
}

// The access token to send: renewed first when it is about to expire, or when `renew` says the API
// refused it. Null when there is no session (left) to send.
export async function accessToken({ force = false } = {}) {
  const kept = stored();
  if (!kept) return null;
  const fresh = expiresAt(kept.claims) - RENEW_EARLY_MS > Date.now();
  if (fresh && !force) return kept.token;
  if (!kept.refreshToken) return expiresAt(kept.claims) > Date.now() && !force ? kept.token : null;
  renewing ??= renew(kept.refreshToken).finally(() => (renewing = null));
  return renewing;
}

export function canRenew() {
  return Boolean(stored()?.refreshToken);
}

// Only the app's own routes are a place to come back to after signing in (no open redirect).
export function safeReturn(hash) {
  return typeof hash === "string" && /^#\/(?!signin)[^\s]*$/.test(hash) ? hash : "#/wallet";
}

// Local stack only: who to be, as a real issuer would vouch for it.
export async function signInLocally({ userId, country, birthdate, admin }) {
  const body = { user_id: userId, admin: Boolean(admin) };
  if (country) body.country = country.toUpperCase();
  if (birthdate) body.birthdate = birthdate;
  const response = await fetch(tokenEndpoint(), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = answer?.error?.message ?? `the local stack answered ${response.status}`;
    throw new Error(response.status === 404 ? "This deployment has no local sign-in: use the hosted sign-in." : message);
  }
  keep(answer.access_token, answer.refresh_token);
  return currentSession();
}

function redirectUri() {
  return config.auth.redirectUri ?? `${location.origin}${location.pathname}`;
}

// Cognito hosted UI: off to sign in, with a PKCE verifier and a state kept for the way back.
export async function beginHostedSignIn(returnTo = location.hash) {
  const verifier = base64UrlEncode(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = base64UrlEncode(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, returnTo: safeReturn(returnTo) }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.auth.clientId,
    redirect_uri: redirectUri(),
    scope: (config.auth.scopes ?? ["openid"]).join(" "),
    state,
    code_challenge: base64UrlEncode(new Uint8Array(digest)),
    code_challenge_method: "S256",
  });
  location.assign(`${config.auth.domain}/oauth2/authorize?${query}`);
}

// Back from the hosted UI with ?code=&state=: the code becomes tokens at the token endpoint.
export async function completeHostedSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PKCE) ?? "null");
  sessionStorage.removeItem(PKCE);
  if (!pending || params.get("state") !== pending.state) {
    throw new Error("This sign-in did not start here (its state does not match): sign in again.");
  }
  const response = await fetch(tokenEndpoint(), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.auth.clientId,
      code: params.get("code"),
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) {
    throw new Error(`Sign-in failed: ${answer.error_description ?? answer.error ?? response.status}`);
  }
  keep(answer.access_token, answer.refresh_token);
  return safeReturn(pending.returnTo);
}

export function hostedSignOutUrl() {
  const query = new URLSearchParams({ client_id: config.auth.clientId, logout_uri: redirectUri() });
  return `${config.auth.domain}/logout?${query}`;
}
