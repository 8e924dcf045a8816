// The signed-in user's wallet, and the notice every page shows while the account is not active.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { coins } from "./format.js";

let latest = null;

export function lastWallet() {
  return latest;
}

// A reply that carries the new balance (a gift's receipt) keeps it current without another call.
export function noteCoins(coinsBalance) {
  if (latest) latest = { ...latest, coins: coinsBalance };
}

// `background`: a poll (see api.js), which never takes the person to sign-in.
export async function refreshAccount({ background = false } = {}) {
  const wallet = await api.wallet({ background });
  latest = wallet;
  showAccountBanner(wallet);
  window.dispatchEvent(new CustomEvent("coins:wallet", { detail: wallet }));
  return wallet;
}

export function statusLabel(status) {
  return { active: "Active", under_review: "Under review", frozen: "Frozen" }[status] ?? status;
}

// Why the account is not active, in words; the API gives the status and any coin debt.
export function statusExplanation(wallet) {
  if (wallet.status === "frozen") {
    if (wallet.coin_debt > 0) {
      return [
        "A payment was refunded or disputed after its coins had been spent, so ",
        h("strong", { text: coins(wallet.coin_debt) }),
        " are owed. Buying coins, sending gifts and withdrawing are paused; your next purchase repays the debt first.",
      ];
    }
    return [
      "Our team has frozen this account. Buying coins, sending gifts and withdrawing are paused until it is unfrozen; ",
      "contact support to find out more.",
    ];
  }
  if (wallet.status === "under_review") {
    return [
      "Heavy buying or spending put this account under review. Buying coins, sending gifts and withdrawing are paused ",
      "until our team has checked it; your balance is safe.",
    ];
  }
  return [];
}

export function showAccountBanner(wallet) {
  const banner = document.getElementById("account-banner");
  if (!banner) return;
  if (!wallet || wallet.status === "active") {
    banner.hidden = true;
    replace(banner);
    delete banner.dataset.status;
    return;
  }
  banner.hidden = false;
  banner.dataset.status = wallet.status;
  replace(
    banner,
    h("strong", { text: wallet.status === "frozen" ? "Your account is frozen." : "Your account is under review." }),
    " ",
    statusExplanation(wallet),
  );
}
