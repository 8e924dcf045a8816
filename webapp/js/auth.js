// Who the app acts for: a bearer token, kept for this tab only (sessionStorage).
//
// Locally, the local stack mints the token for whoever you pick (POST /_local/token, which exists
// only there). Deployed, config.auth.provider = "cognito" sends you to the Cognito hosted UI and
// back with an authorization code, exchanged for tokens with PKCE; the app sends the access token,
// whose claims (sub, cognito:groups, country, birthdate) the API's JWT authorizer checks.

import config from "../config.js";

const SESSION = "coins.session";
const PKCE = "coins.pkce";
const ADMIN_GROUP = "admins";

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

export function currentSession() {
  const stored = sessionStorage.getItem(SESSION);
  if (!stored) return null;
  try {
    const { token } = JSON.parse(stored);
    const claims = claimsOf(token);
    if (typeof claims.exp === "number" && claims.exp * 1000 <= Date.now()) {
      sessionStorage.removeItem(SESSION);
      return null;
    }
    return { token, claims, userId: claims.sub, isAdmin: groupsOf(claims).includes(ADMIN_GROUP) };
  } catch {
    sessionStorage.removeItem(SESSION);
    return null;
  }
}

function keep(token) {
  claimsOf(token); // refuse anything that is not a JWT before keeping it
  sessionStorage.setItem(SESSION, JSON.stringify({ token }));
}

export function signOut() {
  sessionStorage.removeItem(SESSION);
}

export const provider = config.auth?.provider ?? "local";

// Local stack only: who to be, as a real issuer would vouch for it.
export async function signInLocally({ userId, country, birthdate, admin }) {
  const body = { user_id: userId, admin: Boolean(admin) };
  if (country) body.country = country.toUpperCase();
  if (birthdate) body.birthdate = birthdate;
  const response = await fetch(`${config.apiBase}/_local/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = answer?.error?.message ?? `the local stack answered ${response.status}`;
    throw new Error(response.status === 404 ? "This deployment has no local sign-in: use the hosted sign-in." : message);
  }
  keep(answer.access_token);
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
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, returnTo }));
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
  const response = await fetch(`${config.auth.domain}/oauth2/token`, {
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
  keep(answer.access_token);
  return pending.returnTo || "#/wallet";
}

export function hostedSignOutUrl() {
  const query = new URLSearchParams({ client_id: config.auth.clientId, logout_uri: redirectUri() });
  return `${config.auth.domain}/logout?${query}`;
}
