"""The hosted pages a browser visits: Checkout (Pay, Fail, Cancel) and Connect onboarding (Complete).

Plain HTML forms posting back to the same URL, so a person, Playwright or `requests` can drive them.
"""

import html
from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from devstack.stripe_sim.errors import StripeError
from devstack.stripe_sim.objects import JSON, LineItem, format_amount
from devstack.stripe_sim.routing import Router
from devstack.stripe_sim.simulation import ADULT_DOB, Simulation

PageHandler = Callable[[Request, dict[str, str]], Response]

DECLINED = "Your card was declined."
_BANNER = "TEST MODE: Stripe simulator"
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}"
    "button{font-size:1rem;padding:.6rem 1.2rem;margin:.25rem;border-radius:6px;border:1px solid #635bff;cursor:pointer}"
    "#pay{background:#635bff;color:#fff}#notice{color:#df1b41}.test{color:#a05d00;font-size:.8rem}"
)


def _is_date(text: str) -> bool:
    return len(text) == 10 and text[4] == text[7] == "-" and text.replace("-", "").isdigit()


def _page(title: str, body: str, status: int = 200) -> Response:
    document = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><p class=test>{_BANNER}</p>{body}</body></html>"
    )
    return Response(document, status=status, mimetype="text/html")


def _redirect(location: str) -> Response:
    return Response(status=303, headers={"Location": location})


def checkout_page(session: JSON, items: tuple[LineItem, ...], notice: str | None = None) -> Response:
    if session["status"] != "open":
        closed = {
            "complete": "This Checkout Session is complete.",
            "expired": "This Checkout Session has expired.",
        }
        message = closed.get(session["status"], f"This Checkout Session is {session['status']}.")
        return _page("Checkout", f"<h1 id=closed>{html.escape(message)}</h1>")
    rows = "".join(
        f"<li>{html.escape(item.name)} &times; {item.quantity}: {format_amount(item.amount, item.currency)}</li>"
        for item in items
    )
    alert = f"<p id=notice role=alert>{html.escape(notice)}</p>" if notice else ""
    body = (
        f"<h1 id=product>{html.escape(items[0].name if items else 'Checkout')}</h1><ul>{rows}</ul>"
        f"<p>Total <strong id=amount>{format_amount(session['amount_total'], session['currency'])}</strong></p>"
        f"{alert}<form method=post>"
        "<button id=pay name=action value=pay type=submit>Pay</button>"
        "<button id=fail name=action value=fail type=submit>Fail</button>"
        "<button id=cancel name=action value=cancel type=submit>Cancel</button></form>"
    )
    return _page("Checkout", body)


def onboarding_page(account: JSON) -> Response:
    due = "".join(f"<li>{html.escape(item)}</li>" for item in account["requirements"]["currently_due"])
    state = "Payouts enabled" if account["payouts_enabled"] else "Payouts not enabled yet"
    body = (
        f"<h1>Connect onboarding</h1><p>Account <code id=account>{html.escape(account['id'])}</code>: "
        f"<span id=state>{state}</span></p>"
        + (f"<p>Stripe needs:</p><ul>{due}</ul>" if due else "")
        + "<form method=post>"
        f"<label>Date of birth <input id=dob name=dob type=date value={ADULT_DOB}></label> "
        "<button id=complete name=action value=complete type=submit>Complete</button></form>"
    )
    return _page("Connect onboarding", body)


class Pages:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.router: Router[PageHandler] = Router()
        self.router.add("GET", "/checkout/{id}", self._show_checkout)
        self.router.add("POST", "/checkout/{id}", self._act_on_checkout)
        self.router.add("GET", "/connect/onboard/{id}", self._show_onboarding)
        self.router.add("POST", "/connect/onboard/{id}", self._complete_onboarding)

    def handle(self, request: Request) -> Response | None:
        found = self.router.match(request.method, request.path)
        if found is None:
            return None
        handler, args = found
        try:
            with self.sim.store.lock:
                self.sim.expire_overdue_sessions()
                page = handler(request, args)
        except StripeError as error:
            page = _page("Not found", f"<h1>{html.escape(error.message)}</h1>", status=error.status)
        if self.sim.store.factory.livemode and page.mimetype == "text/html":  # say which mode it is
            page.set_data(page.get_data(as_text=True).replace(_BANNER, "LIVE MODE: Stripe simulator", 1))
        return page

    def _show_checkout(self, request: Request, args: dict[str, str]) -> Response:
        session = self.sim.session(args["id"])
        return checkout_page(session, self.sim.line_items(session["id"]))

    def _act_on_checkout(self, request: Request, args: dict[str, str]) -> Response:
        session = self.sim.session(args["id"])
        items = self.sim.line_items(session["id"])
        action = request.form.get("action")
        if session["status"] != "open":
            return checkout_page(session, items)
        if action == "pay":
            success_url = session["success_url"]
            self.sim.pay_session(session["id"])
            if success_url is None:
                return _page("Checkout", "<h1 id=closed>Thanks for your payment.</h1>")
            return _redirect(success_url.replace("{CHECKOUT_SESSION_ID}", session["id"]))
        if action == "cancel":
            if session["cancel_url"] is None:
                return _page("Checkout", "<h1 id=closed>Payment cancelled.</h1>")
            return _redirect(session["cancel_url"])
        # A declined card: Stripe keeps the session open for another try and tells the merchant nothing.
        return checkout_page(session, items, notice=DECLINED)

    def _show_onboarding(self, request: Request, args: dict[str, str]) -> Response:
        return onboarding_page(self.sim.find(args["id"], "account"))

    def _complete_onboarding(self, request: Request, args: dict[str, str]) -> Response:
        account = self.sim.find(args["id"], "account")
        if not account["payouts_enabled"] or account["requirements"]["currently_due"]:
            dob = request.form.get("dob", "")
            account = self.sim.complete_account(args["id"], dob if _is_date(dob) else None)
        return_url = self.sim.onboarding_urls(args["id"]).return_url
        return _redirect(return_url) if return_url else onboarding_page(account)
