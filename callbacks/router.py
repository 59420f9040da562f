"""URL routing: renders the navigation and the page for the current path."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from dash import Dash, Input, Output, State, ctx, html, no_update

from callbacks.identity import csrf_token, current_actor
from components import admin, alerts, beds, ed, flow, overview, surge, theatres, wall
from components.shell import IDS, navbar, no_data_yet, no_organisation, not_found
from data.runtime import current

log = logging.getLogger(__name__)

PageLayout = Callable[[dict[str, str]], html.Div]

# path -> layout builder taking the URL query as a flat dict
PAGES: dict[str, PageLayout] = {
    "/": lambda query: overview.layout(),
    "/beds": beds.layout,
    "/flow": lambda query: flow.layout(query, _delay_reasons()),
    "/ed": ed.layout,
    "/theatres": theatres.layout,
    "/alerts": alerts.layout,
    "/surge": surge.layout,
    "/wall": wall.layout,
    "/admin": admin.layout,
    "/feeds": lambda query: _feeds_page(query),
    "/imports": lambda query: _imports_page(query),
}
# Pages without the navigation bar (wall displays).
CHROMELESS: set[str] = {"/wall"}
# Page titles: the browser tab's title (document_title) and the notices shown
# before there is anything to show.
TITLES: dict[str, str] = {
    "/": "Overview",
    "/beds": "Beds",
    "/flow": "Flow",
    "/ed": "ED",
    "/theatres": "Theatres",
    "/alerts": "Alerts",
    "/surge": "Surge",
    "/wall": "Wall",
    "/admin": "Admin",
    "/feeds": "Feeds",
    "/imports": "Imports",
}
# Pages whose every figure comes from one domain (data.queries.feeds.DOMAINS):
# until a feed has reported it, the page says "no data yet".
PAGE_DOMAIN: dict[str, str] = {
    "/beds": "beds",
    "/flow": "beds",
    "/ed": "ed",
    "/theatres": "theatres",
}
# Pages still usable without an organisation: the notice goes above them.
WITHOUT_ORGANISATION: set[str] = {"/admin", "/feeds"}


def _delay_reasons() -> tuple[str, ...]:
    from ops.flow import load_delay_reasons

    return load_delay_reasons()


def _imports_page(query: dict[str, str]) -> html.Div:
    from callbacks.imports import layout  # the kinds of file come from feeds.csv

    return layout(query)


def _feeds_page(query: dict[str, str]) -> html.Div:
    from callbacks.feeds import page  # the page depends on the viewer's role

    return page(query)


APP_NAME = "Command Centre"
NOT_FOUND_TITLE = "Page not found"


def document_title(path: str | None) -> str:
    """The browser tab's title for a rendered path (WCAG 2.4.2), e.g.
    "Beds – Command Centre"."""
    return f"{TITLES.get(path or '', NOT_FOUND_TITLE)} – {APP_NAME}"


def _document_title_js() -> str:
    """The clientside function setting document.title from the rendered path: the
    same titles as :func:`document_title`, so a page's title is right however it
    was reached (first load, a link, Back)."""
    titles = {path: document_title(path) for path in TITLES}
    return (
        "function (path) {"
        f" var titles = {json.dumps(titles)};"
        f" document.title = titles[path] || {json.dumps(document_title(None))};"
        " }"
    )


def parse_query(search: object) -> dict[str, str]:
    """The URL query as a flat dict; anything that is not a query string gives {}."""
    if not isinstance(search, str):
        return {}
    parsed = parse_qs(search.lstrip("?"), keep_blank_values=False)
    return {k: v[-1] for k, v in parsed.items() if v}


def render(
    pathname: str | None, search: str | None, rendered: str | None
) -> tuple[object, object, str]:
    """Render the page for the path.

    A change of the query string alone (a page's filters writing to the URL) does not
    re-render the page: the page's own callbacks read the new query.
    """
    path = (pathname if isinstance(pathname, str) else "/").rstrip("/") or "/"
    if path == rendered and ctx.triggered_id == IDS.url and _only_search_changed():
        return no_update, no_update, no_update
    builder = PAGES.get(path)
    nav = None if path in CHROMELESS else _navbar(path)
    if builder is None:
        return nav, not_found(path), path
    notice = gate(path)
    if notice is not None and path not in WITHOUT_ORGANISATION:
        return nav, notice, path
    page = builder(parse_query(search))
    return nav, page if notice is None else html.Div([notice, page]), path


def gate(path: str) -> html.Div | None:
    """The notice a page shows instead of figures: no organisation loaded, or no
    feed has reported the page's domain. None when the page can show its figures
    (or when the store cannot be read: the page then reports that itself)."""
    from data.queries.feeds import DOMAIN_LABELS, feed_report, organisation_loaded

    runtime = current()
    # Wall displays run unattended and may only call the wall's own callbacks, so
    # their notice does not poll; every other notice re-checks at the poll interval.
    every = None if path in CHROMELESS else runtime.settings.poll_seconds * 1000
    title = TITLES.get(path, "This page")
    try:
        with runtime.factory() as session:
            if not organisation_loaded(session):
                return no_organisation(title, every)
            domain = PAGE_DOMAIN.get(path)
            if domain is None:
                return None
            report = feed_report(session)
    except Exception as exc:
        log.warning("page gate for %s: store unreadable: %s", path, type(exc).__name__)
        return None
    if domain not in report.never_reported:
        return None
    return no_data_yet(
        title, DOMAIN_LABELS[domain], [f.feed for f in report.feeds], every
    )


def recheck(_n: int | None, pathname: str | None, search: str | None) -> object:
    """A notice's re-check: the page itself once there is something to show."""
    path = (pathname if isinstance(pathname, str) else "/").rstrip("/") or "/"
    builder = PAGES.get(path)
    if builder is None or gate(path) is not None:
        return no_update
    return builder(parse_query(search))


def _only_search_changed() -> bool:
    props = {t["prop_id"] for t in ctx.triggered}
    return props == {f"{IDS.url}.search"}


def _navbar(path: str) -> object:
    actor = current_actor()
    label = f"{actor.display_name} ({actor.role.replace('_', ' ')})" if actor else None
    return navbar(
        path,
        _trust_name(),
        label,
        csrf_token() if actor else None,
        role=actor.role if actor else None,
    )


def _trust_name() -> str:
    from data.models.capacity import Trust

    try:
        with current().factory() as session:
            trust = session.query(Trust).order_by(Trust.id).first()
            return trust.name if trust else ""
    except Exception:
        return ""


def register(app: Dash) -> None:
    app.callback(
        Output(IDS.nav, "children"),
        Output(IDS.page, "children"),
        Output(IDS.rendered_path, "data"),
        Input(IDS.url, "pathname"),
        Input(IDS.url, "search"),
        State(IDS.rendered_path, "data"),
    )(render)
    app.callback(
        Output(IDS.page, "children", allow_duplicate=True),
        Input(IDS.notice_poll, "n_intervals"),
        State(IDS.url, "pathname"),
        State(IDS.url, "search"),
        prevent_initial_call=True,
    )(recheck)
    # The phone menu button opens and closes the navigation (no server round trip).
    app.clientside_callback(
        "function (n, open) { return !open; }",
        Output(IDS.nav_collapse, "is_open"),
        Input(IDS.nav_toggle, "n_clicks"),
        State(IDS.nav_collapse, "is_open"),
        prevent_initial_call=True,
    )
    # The tab's title follows the page (no output: it writes document.title only).
    app.clientside_callback(_document_title_js(), Input(IDS.rendered_path, "data"))
