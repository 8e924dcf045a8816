// Back from Stripe's hosted page: the payment is confirmed by Stripe's webhook, a moment later.
// The page asks the wallet's history until the purchase is credited, then shows it. Coming back
// proves nothing (anyone can open the return link), so nothing is called received before then.

import config from "../../config.js";
import { refreshAccount } from "../account.js";
import { api } from "../api.js";
import { h, message, replace } from "../dom.js";
import { errorNotice } from "../errors.js";
import { coins, money } from "../format.js";
import { forgetPendingCheckout, pendingCheckout } from "./store.js";

const PATIENCE_MS = 60_000;

async function findCredit(orderId) {
  const page = await api.history(null, 25, { background: true });
  return page.items.find((item) => item.code === "purchase" && item.details?.order_id === orderId && item.amount > 0);
}

export async function renderCheckoutReturn(main, { query }) {
  const pending = pendingCheckout();
  const sessionId = query.get("session_id");
  const status = h("div", { id: "checkout-status", role: "status" });
  main.append(h("h1", { text: "Payment" }), status);
  // Only the checkout this tab opened is waited for; Stripe's link names its session.
  if (!pending || (sessionId && pending.session_id !== sessionId)) {
    replace(
      status,
      message("info", "No payment from this tab to wait for.", "If you paid, your coins appear in your wallet as soon as the payment is confirmed. ", h("a", { href: "#/wallet", text: "Open your wallet" })),
    );
    return;
  }
  const price = money(pending.amount, pending.currency, pending.decimals);
  replace(status, h("p", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), `Waiting for the payment of ${price} to be confirmed: your ${coins(pending.coins)} are added then\u2026`));

  const started = Date.now();
  let timer;
  let stopped = false;
  async function check() {
    try {
      const credit = await findCredit(pending.order_id);
      if (credit) {
        forgetPendingCheckout();
        const wallet = await refreshAccount();
        replace(
          status,
          h(
            "div",
            { class: "notice notice-success", id: "credited" },
            h("strong", { text: `${coins(credit.amount)} added.` }),
            " ",
            h("div", { class: "notice-detail" }, `Your balance is ${coins(wallet.coins)}. `, h("a", { href: "#/live", text: "Send a gift" }), " or ", h("a", { href: "#/wallet", text: "see your wallet" }), "."),
          ),
        );
        return;
      }
    } catch (error) {
      replace(status, errorNotice(error));
    }
    if (stopped) return;
    if (Date.now() - started > PATIENCE_MS) {
      replace(status, message("info", "Still waiting for the payment to be confirmed.", "Some payment methods (bank debits, konbini, boleto) take longer. Your coins appear in your wallet as soon as it is; you can leave this page."));
      return;
    }
    timer = setTimeout(check, config.pollMs.checkout);
  }
  check();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
