"""URL routing: renders the navigation and the page for the current path."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from dash import Dash, Input, Output, State, ctx, html, no_update

from callbacks.identity import csrf_token, current_actor
from components import admin, alerts, beds, ed, overview, surge, theatres, wall
from components.shell import IDS, navbar, not_found
from data.runtime import current

PageLayout = Callable[[dict[str, str]], html.Div]

# path -> layout builder taking the URL query as a flat dict
PAGES: dict[str, PageLayout] = {
    "/": lambda query: overview.layout(),
    "/beds": beds.layout,
    "/ed": ed.layout,
    "/theatres": theatres.layout,
    "/alerts": alerts.layout,
    "/surge": surge.layout,
    "/wall": wall.layout,
    "/admin": admin.layout,
}
# Pages without the navigation bar (wall displays).
CHROMELESS: set[str] = {"/wall"}


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
    return nav, builder(parse_query(search)), path


def _only_search_changed() -> bool:
    props = {t["prop_id"] for t in ctx.triggered}
    return props == {f"{IDS.url}.search"}


def _navbar(path: str) -> object:
    actor = current_actor()
    label = f"{actor.display_name} ({actor.role.replace('_', ' ')})" if actor else None
    return navbar(path, _trust_name(), label, csrf_token() if actor else None)


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
