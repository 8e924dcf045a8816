// What an API error means to the person in front of the app, by the API's error code
// (docs/api.md). `context` says what they were doing, for the codes that differ by action.

import config from "../config.js";
import { h } from "./dom.js";
import { coins, money } from "./format.js";

const FROZEN = "Your account is frozen.";
const REVIEW = "Your account is under review.";

export function explain(error, context = {}) {
  const code = error?.code ?? "unknown";
  const server = error?.message ?? "";
  switch (code) {
    case "insufficient_funds":
      if (context.action === "gift") {
        const short = context.cost !== undefined && context.balance !== undefined;
        return {
          title: "Not enough coins for this gift.",
          detail: short
            ? `It costs ${coins(context.cost)} and you have ${coins(context.balance)}.`
            : "Your balance does not cover it.",
          link: { href: "#/store", text: "Buy coins" },
        };
      }
      if (context.action === "withdraw") {
        return { title: "You don't have that many diamonds available.", detail: "Only available diamonds can be withdrawn; pending ones mature first." };
      }
      return { title: "Not enough balance.", detail: server };
    case "limit_exceeded":
      if (context.action === "withdraw") {
        const limits = context.limits ?? config.withdrawals;
        const cap = money(limits.dailyCap, limits.currency, limits.decimals);
        return { title: "That goes over today's withdrawal cap.", detail: `Withdrawals are limited to ${cap} per day (UTC). Try a smaller amount, or again tomorrow.` };
      }
      return {
        title: "This purchase is over your limit.",
        detail: `${server.charAt(0).toUpperCase()}${server.slice(1)}. Limits protect you from unexpected charges; heavy buying also puts an account under review.`,
      };
    case "account_under_review":
      return {
        title: REVIEW,
        detail: "Buying coins, sending gifts and withdrawing are paused while our team checks recent activity. Your balance is safe.",
      };
    case "account_frozen":
      return { title: FROZEN, detail: "Buying coins, sending gifts and withdrawing are paused. See the notice at the top of the page for why." };
    case "below_minimum": {
      // The creator's own currency and minimum once the earnings said them, else the app's defaults.
      const limits = context.limits ?? config.withdrawals;
      return {
        title: "That is below the minimum withdrawal.",
        detail: `Withdraw at least ${money(limits.minimum, limits.currency, limits.decimals)}.`,
      };
    }
    case "not_eligible":
      return { title: "Not possible yet.", detail: server.charAt(0).toUpperCase() + server.slice(1) + "." };
    case "birthdate_required":
      return { title: "Your birthdate is needed.", detail: "Sign in with an account that has your birthdate: this takes a minimum age." };
    case "recipient_not_creator":
      return { title: "This creator can't receive gifts.", detail: `${context.creatorId ?? "They"} is not a creator: only creators receive gifts.` };
    case "recipient_unavailable":
      return { title: "This creator can't receive gifts right now.", detail: "Their account is paused. Nothing was charged." };
    case "stream_not_found":
      return { title: "There is no such stream.", detail: "Check the stream's link. Nothing was charged." };
    case "stream_ended":
      return { title: "This stream has ended.", detail: "Gifts go to live streams only. Nothing was charged." };
    case "stream_creator_mismatch":
      return { title: "This stream is someone else's.", detail: "Open the creator's own stream link. Nothing was charged." };
    case "stream_already_live":
      return { title: "You are live already.", detail: server };
    case "not_a_creator":
    case "creator_signup_closed":
      return { title: "Only creators can do this.", detail: server.charAt(0).toUpperCase() + server.slice(1) + "." };
    case "not_found":
      if (context.action === "gift") {
        return { title: "This creator can't receive gifts.", detail: `${context.creatorId ?? "They"} has no wallet here yet.` };
      }
      return { title: "Not found.", detail: server };
    case "forbidden":
      return { title: "Not allowed.", detail: server };
    case "unauthenticated":
      return { title: "Your session has ended.", detail: "Sign in again.", link: { href: "#/signin", text: "Sign in" } };
    case "rate_limited":
    case "retry_later":
    case "payment_provider_unavailable":
      return { title: "Busy right now.", detail: "Nothing was charged twice. Please try again in a moment." };
    case "network":
      return { title: "Can't reach the server.", detail: "Check your connection and try again." };
    case "invalid_request":
    case "idempotency_key_reused":
      return { title: "That request was refused.", detail: server };
    default:
      return { title: "Something went wrong.", detail: server || `Error ${code}.` };
  }
}

// The error as an alert box, with the code for support and tests (data-code).
export function errorNotice(error, context) {
  const { title, detail, link } = explain(error, context);
  return h(
    "div",
    { class: "notice notice-error", role: "alert", dataset: { code: error?.code ?? "unknown" } },
    h("strong", { text: title }),
    detail ? [" ", h("div", { class: "notice-detail" }, detail, link ? [" ", h("a", { href: link.href, text: link.text })] : null)] : null,
  );
}
