// A live stream: its title, the gift tray, and the stream's gift feed as gifts arrive.

import config from "../../config.js";
import { lastWallet, noteCoins, refreshAccount } from "../account.js";
import { api, idempotencyKey } from "../api.js";
import { field, h, hold, holdFor, isHeld, message, notice, replace } from "../dom.js";
import { errorNotice, waitOf } from "../errors.js";
import { coins, count, time } from "../format.js";
import { describeStream, endStream, FeedUnavailable, goLive, streamLink, topGifters, watchGifts } from "../streams.js";

const MAX_QUANTITY = 1000; // the API's limit per gift request
const FEED_LENGTH = 50;
const NEWS_LENGTH = 3; // gifts announced at once; a burst says how many more
const TOP_LENGTH = 5;
// Top gifters are counted by the gift settlement, a moment after the gift: read them again then.
const TOP_SETTLES_MS = 2000;

export function giftIcon(giftId) {
  return `icons/gifts/${giftId}.svg`;
}

function iconImage(giftId, size) {
  const img = h("img", { src: giftIcon(giftId), alt: "", width: size, height: size, loading: "lazy" });
  img.addEventListener("error", () => (img.src = "icons/gift.svg"), { once: true });
  return img;
}

export function renderLivePicker(main, { session }) {
  const creator = h("input", { name: "creator", required: true, value: "creator-1", autocomplete: "off" });
  const stream = h("input", { name: "stream", required: true, placeholder: "st_\u2026", autocomplete: "off", pattern: "[A-Za-z0-9_.:\\-]{1,128}" });
  const liveStatus = h("div", { class: "form-status", id: "go-live-status" });
  main.append(
    h("h1", { text: "Live" }),
    h(
      "form",
      {
        class: "card form",
        "aria-label": "Watch a live stream",
        onsubmit: async (event) => {
          event.preventDefault();
          const found = await describeStream(stream.value.trim(), creator.value.trim());
          location.hash = streamLink(found);
        },
      },
      h("h2", { text: "Watch a live stream" }),
      field("Creator", creator, "Who is streaming: gifts go to them."),
      field("Stream", stream, "The stream's id, from the link the creator shares."),
      h("button", { type: "submit", class: "button", text: "Watch" }),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: "Streaming yourself?" }),
      h("p", {}, "Go live as a creator and share your stream's link; gifts fans send there credit your diamonds."),
      liveStatus,
      h("button", {
        type: "button",
        class: "button button-quiet",
        text: "Go live",
        onclick: async () => {
          try {
            location.hash = streamLink(await goLive(session.userId));
          } catch (error) {
            replace(liveStatus, errorNotice(error));
          }
        },
      }),
    ),
  );
}

export async function renderLive(main, { params, query, session }) {
  const stream = await describeStream(params[0], query.get("creator") ?? "");
  const own = stream.creatorId === session.userId;
  // One status region for the tray, there from the start: text put into a region that already
  // exists is announced; a region created together with its text often is not.
  const status = h("div", { class: "form-status", id: "gift-status", role: "status" });
  const balance = h("span", { id: "live-balance", text: "\u2026" });
  const heading = stream.title || `${stream.creatorId || "Unknown creator"}'s stream`;
  const stage = h("div", { class: "stage", id: "stage", "aria-hidden": "true" }, h("span", { class: "live-badge", text: "LIVE" }), h("span", { class: "stage-name", text: stream.creatorId || "?" }));
  // The feed is not a live region: its first fill would read every earlier gift aloud. New gifts
  // are announced through `news`, once watching has begun.
  const feed = h("ol", { class: "feed", id: "feed", "aria-label": "Gifts on this stream, newest first" });
  const news = h("p", { class: "visually-hidden", id: "feed-news", role: "status" });
  const feedNote = h("p", { class: "hint", id: "feed-note", text: "Gifts appear here as they arrive." });
  const totals = h("p", { class: "feed-total", id: "feed-total" });
  const top = h("ol", { class: "top-gifters", id: "top-gifters", "aria-label": "Top gifters on this stream" });
  const topNote = h("p", { class: "hint", id: "top-note", text: "No gifts yet." });
  let streamCoins = 0;

  main.append(
    h("h1", { id: "stream-title", text: heading }),
    h("p", { class: "stream-meta subtle" }, h("strong", { text: stream.creatorId || "?" }), ` live: ${stream.streamId}`),
    h("div", { class: "live-layout" }, h("div", { class: "live-main" }, stage, totals, h("section", { class: "card", "aria-labelledby": "feed-heading" }, h("h2", { id: "feed-heading", text: "Gifts" }), feedNote, feed, news)), h("div", { class: "live-side" }, h("section", { class: "card tray-card", id: "tray-card", "aria-labelledby": "tray-heading" }, h("h2", { id: "tray-heading", text: "Send a gift" }), h("p", { class: "balance-line" }, "Your balance: ", balance), status, h("p", { class: "loading", text: "Loading gifts\u2026" })), h("section", { class: "card", "aria-labelledby": "top-heading" }, h("h2", { id: "top-heading", text: "Top gifters" }), topNote, top))),
  );

  const showBalance = (wallet) => balance.replaceChildren(coins(wallet.coins));
  const onWallet = (event) => showBalance(event.detail);
  window.addEventListener("coins:wallet", onWallet);
  refreshAccount().catch((error) => replace(status, errorNotice(error)));
  // Coins arrive from elsewhere too (a purchase in another tab, a grant): keep the balance current.
  const balanceTimer = setInterval(() => refreshAccount({ background: true }).catch(() => {}), config.pollMs.wallet);

  let gifts = [];
  try {
    gifts = (await api.gifts()).gifts;
  } catch (error) {
    replace(status, errorNotice(error));
  }
  const byId = new Map(gifts.map((g) => [g.id, g]));
  const trayCard = main.querySelector("#tray-card");
  trayCard.querySelector(".loading")?.remove();

  if (!stream.live && !stream.missing) {
    trayCard.prepend(notice("info", "This stream has ended.", "Its gifts and totals stay; gifts go to live streams only."));
  }
  if (own) {
    trayCard.append(notice("info", "This is your stream.", "Share its link; you can't gift yourself."), h("p", {}, h("a", { href: `${location.pathname}${streamLink(stream)}`, text: "Link to this stream" })));
    if (stream.live) trayCard.append(endButton(stream, status));
  } else if (gifts.length) {
    trayCard.append(giftTray(gifts, stream, status, showBalance));
  }

  function fly(giftId) {
    if (matchMedia("(prefers-reduced-motion: reduce)").matches) return;
    const img = iconImage(giftId, 56);
    img.className = "flying";
    img.style.left = `${10 + Math.random() * 70}%`;
    stage.append(img);
    img.addEventListener("animationend", () => img.remove());
  }

  // The stream's board, as the settlement counted it: read on arrival and after gifts arrive.
  let topTimer = null;
  async function showTop() {
    if (stream.missing) return;
    try {
      const items = await topGifters(stream.streamId, TOP_LENGTH);
      top.replaceChildren(...items.map((item) => h("li", { class: "top-gifter", dataset: { fan: item.fan_id } }, h("span", { class: "top-rank", text: `${item.rank}.` }), " ", h("strong", { text: item.fan_id }), ` ${coins(item.coins)}`)));
      topNote.hidden = items.length > 0;
    } catch (error) {
      topNote.hidden = false;
      topNote.textContent = "Top gifters are not available right now.";
    }
  }
  const refreshTop = () => {
    clearTimeout(topTimer);
    topTimer = setTimeout(showTop, TOP_SETTLES_MS);
  };
  showTop();

  const giftName = (gift) => byId.get(gift.gift_id)?.name ?? gift.gift_id;
  const stop = watchGifts(
    stream.streamId,
    (fresh, { earlier }) => {
      for (const gift of fresh) {
        streamCoins += gift.coins;
        feed.prepend(
          h(
            "li",
            { class: "feed-item", dataset: { transfer: gift.transfer_id } },
            iconImage(gift.gift_id, 32),
            h("span", { class: "feed-text" }, h("strong", { text: gift.fan_id }), ` sent ${giftName(gift)} \u00d7 ${count(gift.quantity)}`),
            h("time", { datetime: gift.created_at, text: time(gift.created_at) }),
          ),
        );
        if (!earlier) fly(gift.gift_id);
      }
      while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
      feedNote.hidden = true;
      totals.textContent = `${coins(streamCoins)} in gifts on this stream`;
      if (!earlier) {
        const said = fresh.slice(-NEWS_LENGTH).map((gift) => `${gift.fan_id} sent ${giftName(gift)} \u00d7 ${count(gift.quantity)}`);
        const more = fresh.length - said.length;
        news.textContent = `${said.join("; ")}${more > 0 ? `; and ${count(more)} more` : ""}.`;
      }
      refreshTop();
    },
    (problem) => {
      if (!problem) return;
      feedNote.hidden = false;
      feedNote.textContent = problem instanceof FeedUnavailable ? problem.message : "The gift feed is not answering; trying again\u2026";
    },
  );
  return () => {
    stop();
    clearTimeout(topTimer);
    clearInterval(balanceTimer);
    window.removeEventListener("coins:wallet", onWallet);
  };
}

// The creator ends their own live stream: it keeps its gifts, totals and board, and takes no more gifts.
function endButton(stream, status) {
  const button = h("button", { type: "button", class: "button button-quiet", id: "end-stream", text: "End stream" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await endStream(stream.streamId);
      button.replaceWith(notice("info", "This stream has ended.", "Its gifts and totals stay; gifts go to live streams only."));
    } catch (error) {
      button.disabled = false;
      replace(status, errorNotice(error));
    }
  });
  return button;
}

// Asks before a gift that costs more than config.confirmGiftsOver coins: a dialog whose safe
// answer (Cancel) has focus, so the key that opened it cannot also confirm it; Escape cancels.
function confirmGift(gift, n, balanceNow) {
  const cost = n * gift.coins;
  const dialog = h(
    "dialog",
    { class: "confirm", id: "confirm-gift", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-detail" },
    h("h2", { id: "confirm-title", text: `Send ${gift.name} \u00d7 ${count(n)}?` }),
    h("p", { id: "confirm-detail" }, `This spends ${coins(cost)}`, balanceNow !== undefined ? ` of your ${coins(balanceNow)}` : "", ". Coins sent as gifts are not given back."),
  );
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "button button-quiet", text: "Cancel", autofocus: true, onclick: () => dialog.close("cancel") });
    const send = h("button", { type: "button", class: "button", text: `Send for ${coins(cost)}`, onclick: () => dialog.close("send") });
    dialog.append(h("div", { class: "actions" }, cancel, send));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "send");
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

function giftTray(gifts, stream, status, showBalance) {
  let chosen = gifts[0];
  let sending = false;
  const quantity = h("input", { type: "number", name: "quantity", min: 1, max: MAX_QUANTITY, step: 1, value: 1, inputmode: "numeric", required: true });
  const total = h("output", { id: "gift-total", "aria-live": "polite" });
  const send = h("button", { type: "submit", class: "button", id: "send-gift", text: "Send" });

  function amount() {
    const n = Number.parseInt(quantity.value, 10);
    return Number.isInteger(n) && n >= 1 && n <= MAX_QUANTITY ? n : null;
  }
  function sendLabel() {
    const n = amount();
    return n ? `Send for ${coins(n * chosen.coins)}` : "Send";
  }
  function showTotal() {
    const n = amount();
    total.textContent = n ? `${count(n)} \u00d7 ${chosen.name} = ${coins(n * chosen.coins)}` : `Choose 1 to ${count(MAX_QUANTITY)}`;
    if (!send.dataset.waiting) send.textContent = sendLabel();
  }

  const tray = h(
    "fieldset",
    { class: "tray", id: "tray" },
    h("legend", { text: "Gift" }),
    h("div", { class: "tray-items", id: "tray-items" }, gifts.map((gift, index) => {
      const input = h("input", { type: "radio", name: "gift", value: gift.id, id: `gift-${gift.id}`, checked: index === 0, class: "visually-hidden" });
      const label = h("label", { for: input.id }, iconImage(gift.id, 40), h("span", { class: "gift-name", text: gift.name }), h("span", { class: "gift-price", text: coins(gift.coins) }));
      input.addEventListener("change", () => {
        chosen = gift;
        showTotal();
        // The chosen gift in view inside the tray (arrow keys wrap from Rose to Universe).
        label.scrollIntoView({ block: "nearest", inline: "nearest" });
      });
      return h("div", { class: `tray-item kind-${gift.kind}` }, input, label);
    })),
  );
  quantity.addEventListener("input", showTotal);

  async function submit(event) {
    event.preventDefault();
    if (sending || isHeld(send)) return;
    const n = amount();
    if (!n) {
      replace(status, message("error", `Choose a quantity from 1 to ${count(MAX_QUANTITY)}.`));
      quantity.focus();
      return;
    }
    const gift = chosen;
    const from = document.activeElement;
    sending = true;
    hold(send, true);
    try {
      if (n * gift.coins > (config.confirmGiftsOver ?? 1000)) {
        const confirmed = await confirmGift(gift, n, lastWallet()?.coins);
        from?.focus?.({ preventScroll: true }); // back where the key or tap came from
        if (!confirmed) {
          replace(status, h("p", { class: "hint", text: `Not sent: ${gift.name} \u00d7 ${count(n)}.` }));
          return;
        }
      }
      replace(status);
      const receipt = await api.sendGift({ creatorId: stream.creatorId, giftId: gift.id, quantity: n, streamId: stream.streamId }, idempotencyKey());
      noteCoins(receipt.coins_balance);
      showBalance({ coins: receipt.coins_balance });
      replace(status, message("success", `Sent ${gift.name} \u00d7 ${count(n)}.`, `${coins(receipt.coins_spent)} spent; ${coins(receipt.coins_balance)} left.`));
    } catch (error) {
      const balance = lastWallet()?.coins;
      replace(status, errorNotice(error, { action: "gift", cost: n * gift.coins, balance, creatorId: stream.creatorId }));
      const wait = waitOf(error);
      if (wait) holdFor(send, wait, sendLabel);
      refreshAccount({ background: true }).catch(() => {}); // the banner and balance after a refusal
    } finally {
      sending = false;
      if (!send.dataset.waiting) hold(send, false);
    }
  }

  showTotal();
  return h("form", { class: "gift-form", onsubmit: submit, "aria-label": "Send a gift" }, tray, h("div", { class: "gift-send", id: "gift-send" }, field("Quantity", quantity), total, send));
}
