// The app's shell: sign-in state, the navigation and a hash router (static hosting needs no
// rewrite rules). Each page is a module in views/ that renders into <main> and returns a
// function that stops whatever it started (polling).

import { showAccountBanner } from "./account.js";
import { completeHostedSignIn, currentSession, hostedSignOutUrl, provider, safeReturn, signOut } from "./auth.js";
import { h, replace } from "./dom.js";
import { renderAdmin } from "./views/admin.js";
import { renderCheckoutReturn } from "./views/checkout_return.js";
import { renderCreator } from "./views/creator.js";
import { renderLive, renderLivePicker } from "./views/live.js";
import { renderSignIn } from "./views/signin.js";
import { renderStore } from "./views/store.js";
import { renderWallet } from "./views/wallet.js";

const routes = [
  { pattern: /^\/signin$/, title: "Sign in", render: renderSignIn, open: true },
  { pattern: /^\/wallet$/, title: "Wallet", render: renderWallet, nav: "wallet" },
  { pattern: /^\/store$/, title: "Coin store", render: renderStore, nav: "store" },
  { pattern: /^\/store\/return$/, title: "Payment", render: renderCheckoutReturn, nav: "store" },
  { pattern: /^\/live$/, title: "Live", render: renderLivePicker, nav: "live" },
  { pattern: /^\/live\/([^/]+)$/, title: "Live", render: renderLive, nav: "live" },
  { pattern: /^\/creator$/, title: "Creator", render: renderCreator, nav: "creator" },
  { pattern: /^\/admin$/, title: "Admin", render: renderAdmin, nav: "admin", admin: true },
];

let stopCurrent = () => {};

// Sign-in, then back to where the person was.
function signInLink() {
  return `#/signin?next=${encodeURIComponent(safeReturn(location.hash))}`;
}

function parseHash() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(1) : "/wallet";
  const [path, search = ""] = raw.split("?");
  return { path, query: new URLSearchParams(search) };
}

function updateShell(session, active) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  nav.hidden = !session;
  who.hidden = !session;
  if (session) {
    const tags = [session.claims.country, session.isAdmin ? "admin" : null].filter(Boolean).join(", ");
    replace(document.getElementById("who-name"), h("span", { text: session.userId }), tags ? ` (${tags})` : "");
    for (const item of nav.querySelectorAll("[data-admin]")) item.hidden = !session.isAdmin;
  }
  for (const link of nav.querySelectorAll("a[data-nav]")) {
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// Counts navigations: a page that finishes rendering after the person has moved on is stopped at
// once and takes neither focus nor the place of the page they are on.
let navigation = 0;

async function route() {
  const mine = ++navigation;
  stopCurrent();
  stopCurrent = () => {};
  const sessionBanner = document.getElementById("session-banner");
  if (currentSession()) replace(sessionBanner);
  const { path, query } = parseHash();
  const session = currentSession();
  let found = null;
  let params = [];
  for (const candidate of routes) {
    const match = candidate.pattern.exec(path);
    if (match) {
      found = candidate;
      params = match.slice(1).map(decodeURIComponent);
      break;
    }
  }
  const main = document.getElementById("main");
  if (!session && !found?.open) {
    location.replace(signInLink());
    return;
  }
  if (!found || (found.admin && !session?.isAdmin)) {
    location.replace("#/wallet");
    return;
  }
  if (!session) showAccountBanner(null);
  updateShell(session, found.nav);
  document.title = `${found.title} · Coins`;
  main.replaceChildren();
  const stop = await found.render(main, { params, query, session });
  if (mine !== navigation) {
    if (typeof stop === "function") stop();
    return;
  }
  if (typeof stop === "function") stopCurrent = stop;
  // A new page: focus its heading (a screen reader reads where they are, Tab goes on from there),
  // unless the page put focus somewhere itself. The link that was chosen stays marked current.
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

// Stripe and the hosted sign-in come back to the app's own address with a query string: turn it
// into the page that shows what happened, and take it out of the address bar.
async function arrive() {
  const params = new URLSearchParams(location.search);
  let next = null;
  if (params.has("code") && params.has("state") && provider === "cognito") {
    try {
      next = await completeHostedSignIn(params);
    } catch (error) {
      sessionStorage.setItem("coins.signin-error", error.message);
      next = "#/signin";
    }
  } else if (params.get("checkout") === "success") {
    next = `#/store/return?${new URLSearchParams({ session_id: params.get("session_id") ?? "" })}`;
  } else if (params.get("checkout") === "cancelled") {
    next = "#/store?checkout=cancelled";
  } else if (params.has("onboarding")) {
    next = `#/creator?onboarding=${encodeURIComponent(params.get("onboarding"))}`;
  }
  if (next !== null) history.replaceState(null, "", `${location.pathname}${next}`);
}

function wireShell() {
  document.getElementById("skip").addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main");
    main.focus();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    showAccountBanner(null);
    if (provider === "cognito") location.assign(hostedSignOutUrl());
    else location.hash = "#/signin";
  });
  // The session ended and could not be renewed. What the person just did takes them to sign-in
  // (and back here after); a poll or a board refreshing only says so: watching carries on.
  window.addEventListener("coins:unauthenticated", (event) => {
    if (event.detail?.background) {
      const banner = document.getElementById("session-banner");
      if (!banner.firstChild) {
        replace(banner, h("strong", { text: "Your session has ended." }), " ", h("a", { href: signInLink(), text: "Sign in again" }), " to carry on where you were.");
      }
      return;
    }
    if (parseHash().path === "/signin") return; // on its way there already (another request's 401)
    signOut();
    sessionStorage.setItem("coins.signin-error", "Your session has ended. Sign in again to carry on where you were.");
    location.hash = signInLink();
  });
  window.addEventListener("hashchange", route);
}

await arrive();
wireShell();
await route();
document.documentElement.dataset.ready = "true";
