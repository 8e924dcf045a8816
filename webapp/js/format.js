// Numbers as people read them, in the browser's language. Money arrives in minor units.

const locale = undefined; // the browser's

export function count(n) {
  return new Intl.NumberFormat(locale).format(n);
}

export function coins(n) {
  return `${count(n)} ${Math.abs(n) === 1 ? "coin" : "coins"}`;
}

export function diamonds(n) {
  return `${count(n)} ${Math.abs(n) === 1 ? "diamond" : "diamonds"}`;
}

// Stripe counts UGX and ISK in hundredths although ISO gives them no decimals; the rest follow ISO.
const STRIPE_HUNDREDTHS = new Set(["UGX", "ISK"]);

export function decimalsOf(currency) {
  const code = currency.toUpperCase();
  if (STRIPE_HUNDREDTHS.has(code)) return 2;
  return new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits;
}

// `amount` minor units of `currency`, counted in `decimals` digits (the API says how many).
// `shownDecimals` drops the fraction when a price list is whole units (yen, won, rupiah).
export function money(amount, currency, decimals = decimalsOf(currency), shownDecimals = decimals) {
  return new Intl.NumberFormat(locale, {
    style: "currency",
    currency: currency.toUpperCase(),
    minimumFractionDigits: shownDecimals,
    maximumFractionDigits: shownDecimals,
  }).format(amount / 10 ** decimals);
}

// How many decimals a list of prices needs: none when every price is whole units.
export function decimalsToShow(amounts, decimals) {
  const unit = 10 ** decimals;
  return amounts.every((a) => a % unit === 0) ? 0 : decimals;
}

// How long to wait, as a person says it: "45 seconds", "30 minutes".
export function duration(seconds) {
  if (seconds < 90) return `${count(seconds)} ${seconds === 1 ? "second" : "seconds"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${count(minutes)} minutes`;
}

export function dateTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(when);
}

export function time(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { timeStyle: "medium" }).format(when);
}

export function signed(n, unit) {
  const text = unit === "coins" ? coins(Math.abs(n)) : unit === "diamonds" ? diamonds(Math.abs(n)) : count(Math.abs(n));
  return `${n < 0 ? "\u2212" : "+"}${text}`;
}
