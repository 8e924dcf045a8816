// The fan's wallet: coins, status, debt, and the full history, page by page.

import config from "../../config.js";
import { refreshAccount, statusLabel } from "../account.js";
import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { errorNotice } from "../errors.js";
import { coins, dateTime, diamonds, signed } from "../format.js";

// What each history line means, from its code and details (docs/api.md, wallet transactions).
export function describe(item) {
  const d = item.details ?? {};
  const who = item.counterparty_id;
  switch (item.code) {
    case "gift": {
      const what = `${d.gift_name ?? d.gift_id ?? "Gift"} \u00d7 ${d.quantity ?? 1}`;
      return item.amount < 0 ? `Sent ${what} to ${who}` : `Received ${what} from ${who}`;
    }
    case "purchase":
      return `Bought ${d.package_id ? d.package_id.replace("coins_", "") + " coins" : "coins"}`;
    case "adjustment":
      // The user sees a neutral description; the internal reason stays with admins (docs/api.md).
      return `Adjustment by our team: ${d.description ?? ""}`.trim();
    case "clawback":
      return `Taken back: ${d.reason ?? "a payment was refunded or disputed"}`;
    case "restoration":
      return `Given back: ${d.reason ?? "a dispute was won"}`;
    case "maturation":
      return "Diamonds matured and became available";
    case "withdrawal":
      return "Withdrawal reserved for the next payout";
    case "payout":
      return "Paid out to your bank";
    case "payout_voided":
      return "Payout cancelled: diamonds returned";
    case "payout_reversed":
      return "Payout reversed: diamonds returned";
    default:
      return item.code;
  }
}

function unitOf(item) {
  return item.unit === "coin" || item.unit === "coins" ? "coins" : item.unit === "diamond" || item.unit === "diamonds" ? "diamonds" : item.unit;
}

// Which of a creator's diamond buckets a line moved: pending, available or reserved.
function bucketOf(item) {
  return item.account?.startsWith("diamonds_") ? ` ${item.account.slice("diamonds_".length)}` : "";
}

function walletSummary(wallet) {
  const d = wallet.diamonds;
  const totalDiamonds = d.available + d.pending + d.reserved;
  return h(
    "section",
    { class: "card wallet-summary", "aria-labelledby": "balance-heading" },
    h("h2", { id: "balance-heading", class: "visually-hidden", text: "Balance" }),
    h("p", { class: "balance" }, h("span", { class: "balance-number", id: "coin-balance", text: coins(wallet.coins) })),
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: "Status" }),
      h("dd", {}, h("span", { class: `chip chip-${wallet.status}`, id: "wallet-status", text: statusLabel(wallet.status) })),
      wallet.coin_debt > 0 ? [h("dt", { text: "Coins owed" }), h("dd", { id: "coin-debt", text: coins(wallet.coin_debt) })] : null,
      totalDiamonds > 0 ? [h("dt", { text: "Diamonds" }), h("dd", {}, h("a", { href: "#/creator", text: diamonds(totalDiamonds) }))] : null,
    ),
    h("p", { class: "actions" }, h("a", { class: "button", href: "#/store", text: "Buy coins" }), " ", h("a", { class: "button button-quiet", href: "#/live", text: "Watch a live stream" })),
  );
}

export async function renderWallet(main) {
  const summary = h("div", {}, h("p", { class: "loading", text: "Loading your wallet\u2026" }));
  const loading = h("li", { class: "empty", text: "Loading your history\u2026" });
  const list = h("ol", { class: "history", id: "history", "aria-label": "Transactions, newest first" }, loading);
  const more = h("button", { type: "button", class: "button button-quiet", text: "Show older", hidden: true });
  const problems = h("div");
  main.append(
    h("h1", { text: "Wallet" }),
    problems,
    summary,
    h("section", { class: "card", "aria-labelledby": "history-heading" }, h("h2", { id: "history-heading", text: "History" }), list, more),
  );

  let cursor = null;
  async function loadPage() {
    more.disabled = true;
    try {
      const page = await api.history(cursor);
      loading.remove();
      if (!cursor && page.items.length === 0) list.append(h("li", { class: "empty", text: "Nothing yet: buy coins or receive a gift." }));
      for (const item of page.items) {
        const unit = unitOf(item);
        list.append(
          h(
            "li",
            { dataset: { code: item.code } },
            h("span", { class: "what", text: describe(item) }),
            h("span", { class: `amount ${item.amount < 0 ? "out" : "in"}`, text: signed(item.amount, unit) + bucketOf(item) }),
            h("time", { datetime: item.created_at, text: dateTime(item.created_at) }),
          ),
        );
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) {
      replace(problems, errorNotice(error));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", loadPage);

  async function showWallet({ background = false } = {}) {
    try {
      const wallet = await refreshAccount({ background });
      replace(summary, walletSummary(wallet));
    } catch (error) {
      replace(problems, errorNotice(error));
    }
  }

  await Promise.all([showWallet(), loadPage()]);
  // A freeze, a review or a webhook's credit shows without a reload.
  const timer = setInterval(() => showWallet({ background: true }), config.pollMs.wallet);
  return () => clearInterval(timer);
}
