// Sign-in. Locally: pick who to be (the claims a real issuer would set). Deployed: the hosted UI.

import { beginHostedSignIn, provider, safeReturn, signInLocally } from "../auth.js";
import { field, h, notice, replace } from "../dom.js";

const SUGGESTED_USERS = ["fan-1", "fan-2", "creator-1", "admin-1"];
// Countries with their own price region (layers/shared/coins/data/packages.json), and one without.
const COUNTRIES = [
  ["US", "United States"], ["JP", "Japan"], ["KR", "South Korea"], ["IN", "India"], ["BR", "Brazil"],
  ["ID", "Indonesia"], ["MX", "Mexico"], ["TR", "Türkiye"], ["DE", "Germany"], ["FR", "France"],
  ["GB", "United Kingdom"], ["CA", "Canada"], ["AU", "Australia"], ["SG", "Singapore"], ["MY", "Malaysia"],
  ["TH", "Thailand"], ["PL", "Poland"], ["CH", "Switzerland"], ["SE", "Sweden"], ["TW", "Taiwan"],
  ["HU", "Hungary"], ["VN", "Vietnam"], ["HK", "Hong Kong"], ["NG", "Nigeria (default prices)"],
];

export function renderSignIn(main, { query }) {
  // Where to go once signed in: the page that asked, if it is one of the app's own.
  const next = safeReturn(query.get("next"));
  const problem = sessionStorage.getItem("coins.signin-error");
  sessionStorage.removeItem("coins.signin-error");
  const status = h("div", { class: "form-status" }, problem ? notice("error", problem) : null);

  if (provider !== "local") {
    main.append(
      h("h1", { text: "Sign in" }),
      status,
      h("p", { text: "You will sign in on the account page and come straight back." }),
      h("button", { type: "button", class: "button", onclick: () => beginHostedSignIn(next), text: "Sign in" }),
    );
    return;
  }

  const user = h("input", { name: "user", required: true, autocomplete: "username", list: "users", pattern: "[A-Za-z0-9_.@:+\\-]{1,128}", value: "fan-1" });
  const users = h("datalist", { id: "users" }, SUGGESTED_USERS.map((u) => h("option", { value: u })));
  const country = h("select", { name: "country" }, COUNTRIES.map(([code, name]) => h("option", { value: code, text: `${name} (${code})` })));
  const birthdate = h("input", { name: "birthdate", type: "date", value: "1990-01-01", max: new Date().toISOString().slice(0, 10) });
  const admin = h("input", { name: "admin", type: "checkbox" });
  const submit = h("button", { type: "submit", class: "button", text: "Sign in" });

  async function signIn(event) {
    event.preventDefault();
    submit.disabled = true;
    replace(status);
    try {
      await signInLocally({ userId: user.value.trim(), country: country.value, birthdate: birthdate.value, admin: admin.checked });
      location.hash = next;
    } catch (error) {
      replace(status, notice("error", "Could not sign in.", error.message));
      submit.disabled = false;
    }
  }

  main.append(
    h("h1", { text: "Sign in" }),
    h("p", { class: "lede" }, "Local stack: be anyone. The token carries who you are, your country (it picks the prices) and your birthdate (creators must be 18 to cash out)."),
    h(
      "form",
      { class: "card form", onsubmit: signIn, "aria-label": "Sign in on the local stack" },
      field("User id", user, "Any id: fan-1, creator-1, admin-1, ..."),
      users,
      field("Country", country),
      field("Birthdate", birthdate),
      h("div", { class: "field field-check" }, admin, h("label", { for: (admin.id = "signin-admin"), text: "Admin (the admins group)" })),
      status,
      submit,
    ),
  );
}
