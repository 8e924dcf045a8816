// Back from Stripe's hosted page: the payment is confirmed by Stripe's webhook, a moment later.
// The page asks the wallet's history until the purchase is credited, then shows it.

import config from "../../config.js";
import { refreshAccount } from "../account.js";
import { api } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { errorNotice } from "../errors.js";
import { coins, money } from "../format.js";
import { forgetPendingCheckout, pendingCheckout } from "./store.js";

const PATIENCE_MS = 60_000;

async function findCredit(orderId) {
  const page = await api.history(null, 25);
  return page.items.find((item) => item.code === "purchase" && item.details?.order_id === orderId && item.amount > 0);
}

export async function renderCheckoutReturn(main) {
  const pending = pendingCheckout();
  const status = h("div", { id: "checkout-status", "aria-live": "polite" });
  main.append(h("h1", { text: "Payment" }), status);
  if (!pending) {
    replace(status, notice("info", "Payment received.", "Your coins appear in your wallet as soon as the payment is confirmed. ", h("a", { href: "#/wallet", text: "Open your wallet" })));
    return;
  }
  const paid = money(pending.amount, pending.currency, pending.decimals);
  replace(status, h("p", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), `Payment of ${paid} received. Waiting for confirmation of your ${coins(pending.coins)}\u2026`));

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
            { class: "notice notice-success", role: "status", id: "credited" },
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
      replace(status, notice("info", "Still waiting for the payment to be confirmed.", "Some payment methods (bank debits, konbini, boleto) take longer. Your coins appear in your wallet as soon as it is; you can leave this page."));
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
