// The coin store: the caller's region's packages in its currency, bought on Stripe's hosted page.

import { refreshAccount } from "../account.js";
import { api, idempotencyKey } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { errorNotice } from "../errors.js";
import { count, decimalsToShow, money } from "../format.js";

// Stripe's names for its payment method types, as a buyer knows them.
export const METHOD_NAMES = {
  card: "Card",
  alipay: "Alipay",
  au_becs_debit: "BECS Direct Debit",
  bancontact: "Bancontact",
  blik: "BLIK",
  boleto: "Boleto",
  cashapp: "Cash App Pay",
  eps: "EPS",
  fpx: "FPX",
  grabpay: "GrabPay",
  ideal: "iDEAL",
  kakao_pay: "Kakao Pay",
  konbini: "Konbini",
  naver_pay: "Naver Pay",
  oxxo: "OXXO",
  paynow: "PayNow",
  pix: "Pix",
  promptpay: "PromptPay",
  revolut_pay: "Revolut Pay",
  sepa_debit: "SEPA Direct Debit",
  swish: "Swish",
  twint: "TWINT",
  us_bank_account: "US bank account",
  wechat_pay: "WeChat Pay",
};

// What a buyer should know before choosing a method that is not paid on the spot.
const METHOD_NOTES = {
  au_becs_debit: "bank debit, confirmed within days",
  boleto: "pay the slip within days",
  konbini: "pay at a convenience store",
  oxxo: "pay cash at an OXXO store",
  sepa_debit: "bank debit, confirmed within days",
  us_bank_account: "bank debit, confirmed within days",
};

const PENDING = "coins.pending-checkout";

export function pendingCheckout() {
  return JSON.parse(sessionStorage.getItem(PENDING) ?? "null");
}

export function forgetPendingCheckout() {
  sessionStorage.removeItem(PENDING);
}

export async function renderStore(main, { query }) {
  const problems = h("div", { class: "form-status", id: "store-status" });
  if (query.get("checkout") === "cancelled") {
    problems.append(notice("info", "Checkout cancelled.", "Nothing was charged."));
    forgetPendingCheckout();
  }
  main.append(h("h1", { text: "Coin store" }), problems);

  let catalogue;
  try {
    [catalogue] = await Promise.all([api.packages(), refreshAccount()]);
  } catch (error) {
    problems.append(errorNotice(error));
    return;
  }
  const { currency, currency_decimals: decimals, packages, payment_methods: methods } = catalogue;
  const limits = catalogue.payment_method_limits ?? {};
  const shown = decimalsToShow(packages.map((p) => p.amount), decimals);
  const price = (amount) => money(amount, currency, decimals, shown);
  const limitPrice = (amount) => money(amount, currency, decimals, decimalsToShow([amount], decimals));

  let method = methods.includes("card") ? "card" : methods[0];
  const grid = h("ul", { class: "packages", id: "packages" });
  const methodChoice = h(
    "fieldset",
    { class: "methods" },
    h("legend", { text: "Pay with" }),
    methods.map((m) => {
      const input = h("input", { type: "radio", name: "method", value: m, id: `method-${m}`, checked: m === method });
      input.addEventListener("change", () => {
        method = m;
        draw();
      });
      return h(
        "div",
        { class: "method" },
        input,
        h(
          "label",
          { for: input.id },
          METHOD_NAMES[m] ?? m,
          METHOD_NOTES[m] ? ` (${METHOD_NOTES[m]})` : "",
          limits[m] ? h("span", { class: "hint", text: ` up to ${limitPrice(limits[m])} per purchase` }) : null,
        ),
      );
    }),
  );

  async function buy(pkg, button) {
    button.disabled = true;
    replace(problems);
    try {
      const opened = await api.checkout(pkg.id, method, idempotencyKey());
      sessionStorage.setItem(
        PENDING,
        JSON.stringify({ order_id: opened.order_id, session_id: opened.session_id, coins: opened.coins, amount: opened.amount, currency: opened.currency, decimals }),
      );
      replace(problems, notice("info", "Taking you to the secure payment page\u2026"));
      location.assign(opened.checkout_url);
    } catch (error) {
      replace(problems, errorNotice(error, { action: "buy" }));
      refreshAccount({ background: true }).catch(() => {}); // the banner and balance after a refusal
      button.disabled = false;
    }
  }

  function draw() {
    replace(
      grid,
      packages.map((pkg) => {
        const over = limits[method] !== undefined && pkg.amount > limits[method];
        const label = `Buy ${count(pkg.coins)} coins for ${price(pkg.amount)}`;
        const button = h("button", { type: "button", class: "button", "aria-label": label, disabled: over, text: "Buy" });
        button.addEventListener("click", () => buy(pkg, button));
        return h(
          "li",
          { class: "package", dataset: { package: pkg.id } },
          h("img", { src: "icons/coin.svg", alt: "", width: 40, height: 40 }),
          h("span", { class: "package-coins", text: `${count(pkg.coins)} coins` }),
          h("span", { class: "package-price", text: price(pkg.amount) }),
          over ? h("span", { class: "hint", text: `Over the ${METHOD_NAMES[method] ?? method} limit of ${limitPrice(limits[method])}` }) : null,
          button,
        );
      }),
    );
  }
  draw();

  main.append(
    h("p", { class: "lede" }, `Prices for your region (${catalogue.region}) in ${currency.toUpperCase()}, taxes included. You pay on Stripe's secure page; coins arrive as soon as the payment is confirmed.`),
    h("section", { class: "card" }, methodChoice, grid),
  );
}
