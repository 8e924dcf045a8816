// Staff tools: the review queue, freezing and unfreezing accounts, ledger adjustments with a reason,
// and the large adjustments that wait for a second admin's approval.

import { api, idempotencyKey } from "../api.js";
import { field, h, hold, isHeld, notice, replace } from "../dom.js";
import { errorNotice } from "../errors.js";
import { coins, dateTime, diamonds, signed } from "../format.js";
import { statusLabel } from "../account.js";

const REASON_HINT = "Required, 3 to 500 characters; kept with the change for audit.";

function reasonInput(name) {
  return h("input", { name, required: true, minlength: 3, maxlength: 500, autocomplete: "off" });
}

// A table's rows read a page at a time (`read(cursor)` answers {items, next_cursor}); "Show more"
// reads the next. `load(true)` reads from the start again, and replaces what a read still in flight
// would have shown.
function pagedRows({ rows, more, status, read, row, empty }) {
  let cursor = null;
  let latest = 0;
  async function load(fromStart = false) {
    const mine = fromStart ? ++latest : latest;
    try {
      const page = await read(fromStart ? null : cursor);
      if (mine !== latest) return;
      if (fromStart) rows.replaceChildren();
      if (fromStart && page.items.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty", text: empty })));
      for (const item of page.items) rows.append(row(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) {
      replace(status, errorNotice(error));
    }
  }
  more.addEventListener("click", () => load());
  return load;
}

function balanceText(amount, unit) {
  return unit === "coins" ? coins(amount) : diamonds(amount);
}

export async function renderAdmin(main, { session }) {
  const queueStatus = h("div", { class: "form-status" });
  const queue = h("tbody", { id: "review-queue" });
  const more = h("button", { type: "button", class: "button button-quiet", text: "Show more", hidden: true });

  async function setStatus(userId, status, reason, where) {
    try {
      const changed = await api.setStatus(userId, status, reason);
      replace(where, notice("success", `${changed.user_id} is now ${statusLabel(changed.status).toLowerCase()}.`, `Reason: ${changed.reason}`));
      return true;
    } catch (error) {
      replace(where, errorNotice(error));
      return false;
    }
  }

  function reviewRow(review) {
    const reason = reasonInput("reason");
    reason.setAttribute("aria-label", `Reason for ${review.user_id}`);
    reason.placeholder = "Why (kept for audit)";
    const row = h("tr", { dataset: { user: review.user_id } });
    const act = (status) => async () => {
      if (reason.value.trim().length < 3) {
        replace(queueStatus, notice("error", `Give a reason for ${review.user_id}: 3 to 500 characters, kept for audit.`));
        reason.focus();
        return;
      }
      if (await setStatus(review.user_id, status, reason.value.trim(), queueStatus)) await loadQueue(true);
    };
    return replace(
      row,
      h("th", { scope: "row", text: review.user_id }),
      h("td", {}, h("span", { class: `chip chip-${review.status}`, text: statusLabel(review.status) })),
      h("td", { text: review.reason }),
      h("td", {}, h("time", { datetime: review.since, text: dateTime(review.since) })),
      h(
        "td",
        { class: "row-actions" },
        reason,
        // The name starts with the visible text (WCAG 2.5.3), then says whose.
        h("button", { type: "button", class: "button", text: "Clear review", "aria-label": `Clear review of ${review.user_id}`, onclick: act("active") }),
        h("button", { type: "button", class: "button button-danger", text: "Freeze", "aria-label": `Freeze ${review.user_id}`, onclick: act("frozen") }),
      ),
    );
  }

  const loadQueue = pagedRows({ rows: queue, more, status: queueStatus, read: api.reviews, row: reviewRow, empty: "No accounts are waiting for review." });

  // Adjustments above the approval threshold: who asked, for whom, how much and why; another admin
  // approves them (the API refuses the requester's own approval, so it is not offered).
  const pendingStatus = h("div", { class: "form-status", id: "pending-status", role: "status" });
  const pendingRows = h("tbody", { id: "pending-adjustments" });
  const morePending = h("button", { type: "button", class: "button button-quiet", text: "Show more", hidden: true });

  function pendingRow(pending) {
    const change = signed(pending.amount, pending.unit);
    const approve = h("button", { type: "button", class: "button", text: "Approve", "aria-label": `Approve ${change} for ${pending.user_id}` });
    approve.addEventListener("click", async () => {
      if (isHeld(approve)) return;
      hold(approve, true);
      try {
        const receipt = await api.approveAdjustment(pending.adjustment_id);
        replace(pendingStatus, notice("success", `Approved: ${receipt.user_id} ${signed(receipt.amount, receipt.unit)}.`, `Asked by ${pending.requested_by}. Reason: ${receipt.reason}. Balance now ${balanceText(receipt.balance, receipt.unit)}.`));
        await loadPending(true);
      } catch (error) {
        replace(pendingStatus, errorNotice(error));
        hold(approve, false);
      }
    });
    const own = pending.requested_by === session.userId;
    return h(
      "tr",
      { dataset: { adjustment: pending.adjustment_id } },
      h("th", { scope: "row", text: pending.user_id }),
      h("td", { class: "amount-cell", text: change }),
      h("td", { text: pending.reason }),
      h("td", {}, h("strong", { text: pending.requested_by }), h("br"), h("time", { datetime: pending.requested_at, text: dateTime(pending.requested_at) })),
      h("td", { class: "row-actions" }, own ? h("span", { class: "hint", text: "Waiting for another admin" }) : approve),
    );
  }

  const loadPending = pagedRows({ rows: pendingRows, more: morePending, status: pendingStatus, read: api.pendingAdjustments, row: pendingRow, empty: "No adjustments are waiting for approval." });

  // Freeze or unfreeze anyone.
  const statusUser = h("input", { name: "user", required: true, autocomplete: "off" });
  const statusChoice = h("select", { name: "status" }, ["frozen", "active", "under_review"].map((s) => h("option", { value: s, text: statusLabel(s) })));
  const statusReason = reasonInput("reason");
  const statusResult = h("div", { class: "form-status", id: "status-result" });
  const statusForm = h(
    "form",
    {
      class: "form",
      id: "status-form",
      "aria-label": "Change an account's status",
      onsubmit: async (event) => {
        event.preventDefault();
        if (await setStatus(statusUser.value.trim(), statusChoice.value, statusReason.value.trim(), statusResult)) await loadQueue(true);
      },
    },
    field("User id", statusUser),
    field("New status", statusChoice, "Frozen: no buying, gifting or withdrawing. Active: clears a review or a freeze."),
    field("Reason", statusReason, REASON_HINT),
    statusResult,
    h("button", { type: "submit", class: "button", text: "Change status" }),
  );

  // Adjustments: a balanced ledger entry, credit or debit, with its reason.
  const adjustUser = h("input", { name: "user", required: true, autocomplete: "off" });
  const adjustUnit = h("select", { name: "unit" }, h("option", { value: "coins", text: "Coins" }), h("option", { value: "diamonds", text: "Diamonds (available)" }));
  const adjustAmount = h("input", { name: "amount", type: "number", step: 1, required: true, inputmode: "numeric" });
  const adjustSource = h("select", { name: "source" }, h("option", { value: "", text: "Default (promotions for coin credits, else corrections)" }), h("option", { value: "promotions", text: "Promotions" }), h("option", { value: "corrections", text: "Corrections" }));
  const adjustReason = reasonInput("reason");
  const adjustResult = h("div", { class: "form-status", id: "adjust-result" });
  let adjustKey = idempotencyKey(); // one key per adjustment, kept across retries of the same form
  for (const input of [adjustUser, adjustUnit, adjustAmount, adjustSource, adjustReason]) {
    input.addEventListener("input", () => (adjustKey = idempotencyKey()));
  }
  const adjustForm = h(
    "form",
    {
      class: "form",
      id: "adjust-form",
      "aria-label": "Adjust a balance",
      onsubmit: async (event) => {
        event.preventDefault();
        const amount = Number.parseInt(adjustAmount.value, 10);
        if (!Number.isInteger(amount) || amount === 0) {
          replace(adjustResult, notice("error", "Enter a whole amount other than zero: positive credits, negative debits."));
          return;
        }
        try {
          const receipt = await api.adjust(
            { userId: adjustUser.value.trim(), unit: adjustUnit.value, amount, reason: adjustReason.value.trim(), source: adjustSource.value || undefined },
            adjustKey,
          );
          if (receipt.status === "pending_approval") {
            // Above the approval threshold: nothing moved yet (202).
            replace(adjustResult, notice("info", `Waiting for a second admin: ${receipt.user_id} ${signed(receipt.amount, receipt.unit)}.`, `Nothing moves until another admin approves it under "Waiting for approval". Reason: ${receipt.reason}.`));
            await loadPending(true);
          } else {
            replace(adjustResult, notice("success", `Adjusted ${receipt.user_id}: ${signed(receipt.amount, receipt.unit)}.`, `From ${receipt.source}. Reason: ${receipt.reason}. Balance now ${balanceText(receipt.balance, receipt.unit)}.`));
          }
          adjustKey = idempotencyKey();
        } catch (error) {
          replace(adjustResult, errorNotice(error));
        }
      },
    },
    field("User id", adjustUser),
    field("Unit", adjustUnit),
    field("Amount", adjustAmount, "Positive to credit, negative to debit."),
    field("Source", adjustSource),
    field("Reason", adjustReason, REASON_HINT),
    adjustResult,
    h("button", { type: "submit", class: "button", text: "Adjust" }),
  );

  main.append(
    h("h1", { text: "Admin" }),
    h(
      "section",
      { class: "card", "aria-labelledby": "queue-heading" },
      h("h2", { id: "queue-heading", text: "Review queue" }),
      queueStatus,
      h("div", { class: "table-wrap" }, h("table", { class: "table" }, h("thead", {}, h("tr", {}, ["User", "Status", "Why", "Since", "Decision"].map((t) => h("th", { scope: "col", text: t })))), queue)),
      more,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "pending-heading" },
      h("h2", { id: "pending-heading", text: "Waiting for approval" }),
      h("p", { class: "hint", text: "Large adjustments move nothing until a second admin approves them." }),
      pendingStatus,
      h("div", { class: "table-wrap" }, h("table", { class: "table" }, h("thead", {}, h("tr", {}, ["User", "Change", "Why", "Asked by", "Decision"].map((t) => h("th", { scope: "col", text: t })))), pendingRows)),
      morePending,
    ),
    h("div", { class: "columns" }, h("section", { class: "card", "aria-labelledby": "status-heading" }, h("h2", { id: "status-heading", text: "Freeze or unfreeze" }), statusForm), h("section", { class: "card", "aria-labelledby": "adjust-heading" }, h("h2", { id: "adjust-heading", text: "Adjust a balance" }), adjustForm)),
  );
  await loadQueue(true);
  await loadPending(true);
}
