// A creator's earnings: diamonds pending, available and reserved with their cash value; payout
// onboarding; withdrawals; payout history. Gift credits may land a moment after the gift (they can
// be settled from the table's stream), so the page asks again every few seconds.

import config from "../../config.js";
import { refreshAccount } from "../account.js";
import { api, idempotencyKey } from "../api.js";
import { append, field, h, hold, holdFor, isHeld, message, notice, replace } from "../dom.js";
import { errorNotice, waitOf } from "../errors.js";
import { count, dateTime, diamonds, money } from "../format.js";
import { goLive, streamLink } from "../streams.js";

// How long coming back from onboarding waits for Stripe's word before saying it may take longer.
const ONBOARDING_PATIENCE_MS = 60_000;

// Withdrawal statuses (the API's lower-case values).
const STATUS_NAMES = {
  reserved: "Reserved: paid in the next payout batch",
  paid: "Paid",
  failed: "Failed: diamonds returned",
  reversed: "Reversed: diamonds returned",
};

function bucket(id, title, diamondsCount, value, currency, hint) {
  return h(
    "div",
    { class: "bucket", id },
    h("h3", { text: title }),
    h("p", { class: "bucket-diamonds", text: diamonds(diamondsCount) }),
    h("p", { class: "bucket-value", text: money(value, currency) }),
    h("p", { class: "hint", text: hint }),
  );
}

export async function renderCreator(main, { query, session }) {
  const { maturityDays } = config.withdrawals;
  // The creator's payout currency and its limits: the app's defaults until the earnings say them
  // (a creator is paid in their Stripe account's currency where the platform pays in it).
  let limits = { ...config.withdrawals, decimals: undefined };
  const cash = (value) => money(value, limits.currency, limits.decimals);
  const minimumRule = h("li", { id: "withdraw-minimum" });
  const capRule = h("li", { id: "withdraw-cap" });
  function drawLimits() {
    minimumRule.textContent = `The minimum withdrawal is ${cash(limits.minimum)}.`;
    capRule.textContent = `You can withdraw up to ${cash(limits.dailyCap)} a day (days are UTC).`;
  }
  drawLimits();
  const status = h("div", { class: "form-status", id: "creator-status" });
  const buckets = h("div", { class: "buckets", id: "buckets" }, h("p", { class: "loading", text: "Loading your earnings\u2026" }));
  const payouts = h("div", { id: "payouts" });
  // Back from Stripe's onboarding page. Coming back says nothing by itself (anyone can open the
  // link): the payout account is set up once the API says so, from Stripe's own account event.
  const onboardingState = query.get("onboarding");
  const arrived = h("div", { id: "onboarding-status", role: "status" });
  const since = Date.now();
  let lastAccountState = null;
  function showOnboarding(account) {
    if (onboardingState !== "done" || account === lastAccountState) return;
    if (account === "pending" && Date.now() - since > ONBOARDING_PATIENCE_MS) {
      replace(arrived, message("info", "Stripe is still checking your details.", "You can leave this page: withdrawals open as soon as Stripe confirms your payout account."));
    } else if (account === "ready") {
      replace(arrived, message("success", "Payout account set up.", "Stripe confirmed it can receive payouts: you can withdraw."));
    } else if (account === "pending") {
      replace(arrived, h("p", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Waiting for Stripe to confirm your payout account\u2026"));
      return; // asked again with the earnings
    } else {
      replace(arrived, message("info", "No payout account yet.", "Set up payouts with Stripe below to withdraw."));
    }
    lastAccountState = account;
  }
  if (onboardingState === "retry") {
    arrived.append(message("info", "The onboarding link expired.", "Start again below: you will continue where you left off."));
  } else if (onboardingState === "done") {
    showOnboarding("pending");
  }

  const amount = h("input", { type: "number", name: "diamonds", min: 1, step: 1, inputmode: "numeric", required: true });
  const worth = h("output", { id: "withdraw-worth", "aria-live": "polite" });
  const withdrawButton = h("button", { type: "submit", class: "button", text: "Withdraw" });
  const onboard = h("button", { type: "button", class: "button button-quiet", id: "onboard", text: "Set up payouts with Stripe" });

  let earnings = null;
  function rate() {
    // Cash per diamond as the API values the available bucket (both rounded down server-side).
    if (!earnings || earnings.diamonds.available === 0) return null;
    return earnings.value.available / earnings.diamonds.available;
  }
  function showWorth() {
    const n = Number.parseInt(amount.value, 10);
    const r = rate();
    worth.textContent = Number.isInteger(n) && n > 0 && r !== null ? `\u2248 ${cash(Math.floor(n * r))}` : "";
  }
  amount.addEventListener("input", showWorth);

  function drawEarnings() {
    const e = earnings;
    limits = { ...limits, currency: e.currency, decimals: e.currency_decimals, minimum: e.minimum_withdrawal, dailyCap: e.daily_cap };
    drawLimits();
    replace(
      buckets,
      bucket("bucket-pending", "Pending", e.diamonds.pending, e.value.pending, e.currency, `From gifts; available after ${maturityDays} full days.`),
      bucket("bucket-available", "Available", e.diamonds.available, e.value.available, e.currency, "Yours to withdraw."),
      bucket("bucket-reserved", "Reserved", e.diamonds.reserved, e.value.reserved, e.currency, "Withdrawn, waiting for the payout batch."),
    );
    amount.max = String(e.diamonds.available);
    if (!amount.value && e.diamonds.available > 0) amount.placeholder = `up to ${count(e.diamonds.available)}`;
    showWorth();
    replace(
      payouts,
      e.payouts.length === 0
        ? h("p", { class: "hint", text: "No payouts yet." })
        : h(
            "table",
            { class: "table", id: "payout-table" },
            h("caption", { class: "visually-hidden", text: "Payouts, newest first" }),
            h("thead", {}, h("tr", {}, ["Requested", "Diamonds", "Amount", "Status"].map((t) => h("th", { scope: "col", text: t })))),
            h(
              "tbody",
              {},
              e.payouts.map((p) =>
                h(
                  "tr",
                  { dataset: { withdrawal: p.withdrawal_id, status: p.status } },
                  h("td", {}, h("time", { datetime: p.created_at, text: dateTime(p.created_at) })),
                  h("td", { text: count(p.diamonds) }),
                  h("td", { text: money(p.amount, p.currency) }),
                  h("td", {}, h("span", { class: `chip chip-payout-${p.status.toLowerCase()}`, text: STATUS_NAMES[p.status.toLowerCase()] ?? p.status }), p.failure_reason ? h("span", { class: "hint", text: ` ${p.failure_reason}` }) : null),
                ),
              ),
            ),
          ),
    );
  }

  async function load({ background = false } = {}) {
    try {
      earnings = await api.earnings({ background });
      drawEarnings();
      showOnboarding(earnings.payout_account);
    } catch (error) {
      replace(status, errorNotice(error));
    }
  }

  async function withdraw(event) {
    event.preventDefault();
    if (isHeld(withdrawButton)) return;
    const n = Number.parseInt(amount.value, 10);
    if (!Number.isInteger(n) || n < 1) {
      replace(status, notice("error", "Enter a whole number of diamonds."));
      amount.focus();
      return;
    }
    // Held, not disabled: focus stays on the button, so the next key press works (dom.js).
    hold(withdrawButton, true);
    replace(status);
    try {
      const reply = await api.withdraw(n, idempotencyKey());
      replace(status, notice("success", `Withdrawal of ${money(reply.amount, reply.currency)} reserved.`, `${diamonds(reply.diamonds)} are held for the next payout batch.`));
      amount.value = "";
      await load();
    } catch (error) {
      replace(status, errorNotice(error, { action: "withdraw", limits }));
      const wait = waitOf(error);
      if (wait) holdFor(withdrawButton, wait, () => "Withdraw");
      refreshAccount({ background: true }).catch(() => {}); // the banner and balance after a refusal
    } finally {
      if (!withdrawButton.dataset.waiting) hold(withdrawButton, false);
    }
  }

  onboard.addEventListener("click", async () => {
    onboard.disabled = true;
    replace(status);
    try {
      const link = await api.onboarding();
      location.assign(link.onboarding_url);
    } catch (error) {
      replace(status, errorNotice(error));
      onboard.disabled = false;
    }
  });

  append(main, [
    h("h1", { text: "Creator" }),
    arrived,
    status,
    h("section", { class: "card", "aria-labelledby": "earnings-heading" }, h("h2", { id: "earnings-heading", text: "Earnings" }), buckets),
    h(
      "section",
      { class: "card", "aria-labelledby": "withdraw-heading" },
      h("h2", { id: "withdraw-heading", text: "Withdraw" }),
      h(
        "ul",
        { class: "rules" },
        minimumRule,
        capRule,
        h("li", {}, "Withdrawals are paid by the daily payout batch to your Stripe account. Only creators 18 or over with a finished payout setup can withdraw."),
      ),
      h("p", {}, onboard),
      h("form", { class: "form form-inline", onsubmit: withdraw, "aria-label": "Withdraw diamonds" }, field("Diamonds to withdraw", amount), worth, withdrawButton),
    ),
    h("section", { class: "card", "aria-labelledby": "payouts-heading" }, h("h2", { id: "payouts-heading", text: "Payouts" }), payouts),
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Your live stream" }),
      h("p", {}, "Fans gift you on your stream page. ", h("a", { href: "#/live", text: "Go live" }), "."),
    ),
  ]);
  const goLiveLink = main.querySelector('a[href="#/live"]');
  goLiveLink.addEventListener("click", async (event) => {
    event.preventDefault();
    location.hash = streamLink(await goLive(session.userId));
  });

  await load();
  const timer = setInterval(() => load({ background: true }), config.pollMs.earnings);
  return () => clearInterval(timer);
}
