// A small element builder: every text goes in as text, never as HTML.

import { duration } from "./format.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let nextId = 0;
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// A labelled form field: the label is tied to its control, hints are announced with it.
export function field(label, control, hint) {
  const id = control.id || uid("field");
  control.id = id;
  const parts = [h("label", { for: id, text: label }), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// A notice region: role=alert for problems (read at once), role=status for news.
export function notice(kind, title, ...detail) {
  const box = message(kind, title, ...detail);
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  return box;
}

// The same box without a role of its own, for a status region that is already on the page (text put
// into an existing live region is announced reliably; a region created with its text is not).
export function message(kind, title, ...detail) {
  return h(
    "div",
    { class: `notice notice-${kind}` },
    h("strong", { text: title }),
    detail.length ? [" ", h("div", { class: "notice-detail" }, detail)] : null,
  );
}

// A button that cannot act right now (a request in flight, or the API asked to wait) stays
// focusable: aria-disabled, not disabled, so keyboard focus and a screen reader's place stay on it
// and the next key press works once it can. Its click handler asks `isHeld` first.
export function isHeld(button) {
  return button.getAttribute("aria-disabled") === "true";
}

export function hold(button, held) {
  if (held) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
}

// Holds the button for `seconds`, its text counting them down; then gives back `label()`.
export function holdFor(button, seconds, label) {
  const until = Date.now() + seconds * 1000;
  hold(button, true);
  button.dataset.waiting = "true";
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0 || !button.isConnected) {
      clearInterval(timer);
      delete button.dataset.waiting;
      hold(button, false);
      button.textContent = label();
      return;
    }
    button.textContent = `Wait ${duration(left)}`;
  };
  const timer = setInterval(tick, 250);
  tick();
}
