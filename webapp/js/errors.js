// What an API error means to the person in front of the app, by the API's error code
// (docs/api.md). Every code the API can answer has its sentence here (tests/e2e/test_webapp_refusals.py
// holds this table to the domain's errors); `context` says what they were doing, for the codes that
// differ by action.

import config from "../config.js";
import { h } from "./dom.js";
import { coins, duration, money } from "./format.js";

const FROZEN = "Your account is frozen.";
const REVIEW = "Your account is under review.";

function sentence(text) {
  const trimmed = (text ?? "").trim();
  if (!trimmed) return "";
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function signInAgain() {
  return { href: `#/signin?next=${encodeURIComponent(location.hash || "#/wallet")}`, text: "Sign in" };
}

// code -> (server message, context, error) -> {title, detail, link?}
const SENTENCES = {
  insufficient_funds: (server, context) => {
    if (context.action === "gift") {
      const short = context.cost !== undefined && context.balance !== undefined;
      return {
        title: "Not enough coins for this gift.",
        detail: short ? `It costs ${coins(context.cost)} and you have ${coins(context.balance)}.` : "Your balance does not cover it.",
        link: { href: "#/store", text: "Buy coins" },
      };
    }
    if (context.action === "withdraw") {
      return { title: "You don't have that many diamonds available.", detail: "Only available diamonds can be withdrawn; pending ones mature first." };
    }
    return { title: "Not enough balance.", detail: sentence(server) };
  },
  limit_exceeded: (server, context) => {
    if (context.action === "withdraw") {
      const limits = context.limits ?? config.withdrawals;
      const cap = money(limits.dailyCap, limits.currency, limits.decimals);
      return { title: "That goes over today's withdrawal cap.", detail: `Withdrawals are limited to ${cap} per day (UTC). Try a smaller amount, or again tomorrow.` };
    }
    return {
      title: "This purchase is over your limit.",
      detail: `${sentence(server)} Limits protect you from unexpected charges; heavy buying also puts an account under review.`,
    };
  },
  account_under_review: () => ({
    title: REVIEW,
    detail: "Buying coins, sending gifts and withdrawing are paused while our team checks recent activity. Your balance is safe.",
  }),
  account_frozen: () => ({ title: FROZEN, detail: "Buying coins, sending gifts and withdrawing are paused. See the notice at the top of the page for why." }),
  below_minimum: (server, context) => {
    // The creator's own currency and minimum once the earnings said them, else the app's defaults.
    const limits = context.limits ?? config.withdrawals;
    return { title: "That is below the minimum withdrawal.", detail: `Withdraw at least ${money(limits.minimum, limits.currency, limits.decimals)}.` };
  },
  not_eligible: (server) => ({ title: "Not possible yet.", detail: sentence(server) }),
  birthdate_required: () => ({ title: "Your birthdate is needed.", detail: "Sign in with an account that has your birthdate: this takes a minimum age." }),
  recipient_not_creator: (server, context) => ({ title: "This creator can't receive gifts.", detail: `${context.creatorId ?? "They"} is not a creator: only creators receive gifts.` }),
  recipient_unavailable: () => ({ title: "This creator can't receive gifts right now.", detail: "Their account is paused. Nothing was charged." }),
  stream_not_found: () => ({ title: "There is no such stream.", detail: "Check the stream's link. Nothing was charged." }),
  stream_ended: () => ({ title: "This stream has ended.", detail: "Gifts go to live streams only. Nothing was charged." }),
  stream_creator_mismatch: () => ({ title: "This stream is someone else's.", detail: "Open the creator's own stream link. Nothing was charged." }),
  stream_already_live: (server) => ({ title: "You are live already.", detail: sentence(server) }),
  not_a_creator: (server) => ({ title: "Only creators can do this.", detail: sentence(server) }),
  creator_signup_closed: () => ({ title: "Only creators can do this.", detail: "On this platform our team decides who is a creator: ask support to become one." }),
  not_found: (server, context) => {
    if (context.action === "gift") {
      return { title: "This creator can't receive gifts.", detail: `${context.creatorId ?? "They"} has no wallet here yet.` };
    }
    return { title: "We could not find that.", detail: sentence(server) };
  },
  forbidden: (server) => ({ title: "Not allowed.", detail: sentence(server) }),
  unauthenticated: () => ({ title: "Your session has ended.", detail: "Sign in again to carry on where you were.", link: signInAgain() }),
  rate_limited: (server, context, error) => ({
    title: "Too many requests at once.",
    detail: "Nothing was done twice.",
    wait: error.retryAfter ?? null,
  }),
  gift_velocity_limited: (server, context, error) => ({
    title: "That is a lot of gifts to one creator.",
    detail: "Gifts between one fan and one creator are limited per hour, to protect you both. Nothing was charged.",
    wait: error.retryAfter ?? null,
  }),
  payment_provider_unavailable: () => ({ title: "The payment service is not answering.", detail: "Nothing was charged. Try again in a moment." }),
  retry_later: () => ({ title: "Stripe has not answered yet.", detail: "Nothing was lost. Try again in a moment." }),
  livemode_mismatch: () => ({
    title: "The payment settings do not match.",
    detail: "A payment event of the other Stripe mode (test or live) was refused, and nothing was credited: contact support.",
  }),
  invalid_request: (server) => ({ title: "That request was refused.", detail: sentence(server) }),
  idempotency_key_reused: () => ({ title: "This was already sent with other details.", detail: "Nothing was changed. Reload the page and try again." }),
  payload_too_large: () => ({ title: "That is too much to send at once.", detail: "Shorten what you typed and try again." }),
  unsupported_media_type: () => ({ title: "The server could not read that request.", detail: "Reload the page and try again." }),
  internal_error: () => ({ title: "Something went wrong on our side.", detail: "Nothing was done twice. Try again; if it keeps happening, contact support." }),
  domain_error: () => ({ title: "This could not be done.", detail: "Nothing was changed. Try again; if it keeps happening, contact support." }),
  network: () => ({ title: "Can't reach the server.", detail: "Check your connection and try again." }),
};

// The codes this module words (a test compares them with the API's).
export function wordedCodes() {
  return Object.keys(SENTENCES);
}

export function explain(error, context = {}) {
  const code = error?.code ?? "unknown";
  const server = error?.message ?? "";
  const word = Object.hasOwn(SENTENCES, code) ? SENTENCES[code] : null;
  if (word) return word(server, context, error ?? {});
  return { title: "Something went wrong.", detail: sentence(server) || `Error ${code}.` };
}

// Seconds the API asked to wait before trying again (Retry-After), or 0.
export function waitOf(error) {
  return Number.isFinite(error?.retryAfter) && error.retryAfter > 0 ? Math.ceil(error.retryAfter) : 0;
}

// The error as an alert box, with the code for support and tests (data-code). When the API said how
// long to wait, the box counts it down; the count is not re-announced each second (aria-live off).
export function errorNotice(error, context) {
  const { title, detail, link, wait } = explain(error, context);
  const waitFor = wait ? waitOf(error) : 0;
  let countdown = null;
  if (waitFor) {
    countdown = h("span", { class: "countdown", "aria-live": "off", dataset: { until: String(Date.now() + waitFor * 1000) } }, duration(waitFor));
    const tick = setInterval(() => {
      const left = Math.ceil((Number(countdown.dataset.until) - Date.now()) / 1000);
      if (!countdown.isConnected || left <= 0) {
        clearInterval(tick);
        if (countdown.isConnected) countdown.parentElement.replaceChildren("You can try again now.");
        return;
      }
      countdown.textContent = duration(left);
    }, 250);
  }
  const parts = [detail, waitFor ? [" ", h("span", { class: "retry-after" }, "Try again in ", countdown, ".")] : null, link ? [" ", h("a", { href: link.href, text: link.text })] : null];
  return h(
    "div",
    { class: "notice notice-error", role: "alert", dataset: { code: error?.code ?? "unknown" } },
    h("strong", { text: title }),
    detail || waitFor || link ? [" ", h("div", { class: "notice-detail" }, parts)] : null,
  );
}
