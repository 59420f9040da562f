"""The app shell: navigation bar, page container and polling interval."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from ops.permissions import Permission, allowed


class IDS:
    url = "shell-url"
    nav = "shell-nav"
    banner = "shell-banner"
    page = "shell-page"
    poll = "shell-poll"
    clock = "shell-clock"
    version = "shell-version"
    rendered_path = "shell-rendered-path"
    user = "shell-user"
    sign_out = "shell-sign-out"
    notice = "shell-notice"
    notice_poll = "shell-notice-poll"
    root = "shell-root"
    skip = "shell-skip"
    nav_toggle = "shell-nav-toggle"
    nav_collapse = "shell-nav-collapse"
    # Filled by assets/30-staleness.js while the page's figures are STALE.
    stale = "shell-stale"


NAV_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("Overview", "/", "bi-speedometer2"),
    ("Beds", "/beds", "bi-hospital"),
    ("Flow", "/flow", "bi-arrow-left-right"),
    ("ED", "/ed", "bi-heart-pulse"),
    ("Theatres", "/theatres", "bi-scissors"),
    ("Alerts", "/alerts", "bi-bell"),
    ("Surge", "/surge", "bi-clipboard-check"),
    ("Wall", "/wall", "bi-display"),
    ("Feeds", "/feeds", "bi-activity"),
    ("Imports", "/imports", "bi-upload"),
    ("Admin", "/admin", "bi-gear"),
)
# Links shown only to a role with one of these permissions (the pages refuse the
# others anyway; a link to a page that only says "may not" is a dead end).
NAV_NEEDS: dict[str, tuple[Permission, ...]] = {
    "/feeds": (Permission.VIEW_FEEDS,),
    "/imports": (Permission.IMPORT_DATA,),
    "/admin": (Permission.MANAGE_USERS, Permission.MANAGE_FEEDS),
}


def nav_items(role: str | None) -> list[tuple[str, str, str]]:
    """The navigation for ``role``; every link when nobody is signed in (sign-in is
    off in the demo, or the sign-in page redirects)."""
    if role is None:
        return list(NAV_ITEMS)
    return [
        item
        for item in NAV_ITEMS
        if any(allowed(role, p) for p in NAV_NEEDS.get(item[1], (Permission.VIEW,)))
    ]


def user_menu(user_label: str | None, csrf: str | None) -> html.Div:
    """Who is signed in and a sign-out form (a POST with the CSRF token)."""
    if not user_label:
        return html.Div(
            html.A("Sign in", href="/login", className="btn btn-sm btn-outline-light")
        )
    return html.Div(
        [
            html.Span(
                [
                    html.I(
                        className="bi bi-person-circle me-1", **{"aria-hidden": "true"}
                    ),
                    user_label,
                ],
                id=IDS.user,
                className="navbar-text small me-2",
            ),
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf_token", value=csrf or ""),
                    html.Button(
                        "Sign out",
                        type="submit",
                        className="btn btn-sm btn-outline-light",
                        id=IDS.sign_out,
                    ),
                ],
                action="/logout",
                method="POST",
                className="d-inline",
            ),
        ],
        className="d-flex align-items-center ms-3",
    )


def navbar(
    active_path: str,
    trust_name: str,
    user_label: str | None = None,
    csrf: str | None = None,
    role: str | None = None,
) -> dbc.Navbar:
    links = [
        dbc.NavItem(
            dbc.NavLink(
                [html.I(className=f"bi {icon} me-1", **{"aria-hidden": "true"}), label],
                href=href,
                active=(href == "/" and active_path == "/")
                or (href != "/" and active_path.startswith(href)),
                id=f"nav-{label.lower()}",
            )
        )
        for label, href, icon in nav_items(role)
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(
                    [html.I(className="bi bi-broadcast me-2"), "Command Centre"],
                    href="/",
                ),
                # On a phone the links fold behind a menu button, so the page,
                # not the navigation, fills the first screen.
                html.Button(
                    html.Span(className="navbar-toggler-icon"),
                    id=IDS.nav_toggle,
                    type="button",
                    className="navbar-toggler",
                    n_clicks=0,
                    **{"aria-label": "Menu", "aria-controls": IDS.nav_collapse},
                ),
                dbc.Collapse(
                    [
                        dbc.Nav(links, navbar=True, className="me-auto"),
                        html.Span(trust_name, className="navbar-text small text-muted"),
                        user_menu(user_label, csrf),
                    ],
                    id=IDS.nav_collapse,
                    navbar=True,
                    is_open=False,
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        expand="lg",
        className="mb-3 border-bottom border-secondary",
    )


def root_layout(poll_seconds: int, version: str) -> html.Div:
    """The layout every page lives in; pages render into ``IDS.page``."""
    return html.Div(
        [
            # First in the Tab order: past the navigation to the page (WCAG 2.4.1);
            # assets/a11y.js moves focus to <main> without touching the address.
            html.A(
                "Skip to main content",
                href=f"#{IDS.page}",
                id=IDS.skip,
                className="cc-skip-link",
            ),
            dcc.Location(id=IDS.url, refresh="callback-nav"),
            html.Div(id=IDS.nav),
            html.Div(id=IDS.banner),
            # Not a live region: its age ticks every second. assets/a11y.js
            # announces the change to and from STALE once each.
            html.Div(id=IDS.stale, className="cc-stale-notice cc-hidden"),
            html.Main(id=IDS.page, className="container-fluid pb-4", tabIndex="-1"),
            dcc.Interval(id=IDS.poll, interval=poll_seconds * 1000, n_intervals=0),
            dcc.Store(id=IDS.version, data=version),
            dcc.Store(id=IDS.rendered_path),
        ],
        id=IDS.root,
        # the poll interval the browser judges staleness by (assets/30-staleness.js)
        **{"data-cc-poll-ms": str(poll_seconds * 1000)},
    )


def not_found(path: str) -> html.Div:
    return html.Div(
        [
            html.H2("Page not found"),
            html.P(
                [
                    f"There is no page at {path}. ",
                    dcc.Link("Go to the overview", href="/"),
                ]
            ),
        ],
        className="mt-4",
    )


LOAD_COMMAND = "flask --app app organisation load FILE"
LOAD_DOC = "docs/organisation.md"


def _notice(
    heading: str, body: list, recheck_ms: int | None, icon: str = "bi-building"
) -> html.Div:
    children: list = [
        html.H2(
            [html.I(className=f"bi {icon} me-2", **{"aria-hidden": "true"}), heading],
            className="h4",
        ),
        *body,
    ]
    if recheck_ms:
        children.append(dcc.Interval(id=IDS.notice_poll, interval=recheck_ms))
    return html.Div(
        children, id=IDS.notice, className="card card-body mt-4", role="status"
    )


def no_organisation(page: str, recheck_ms: int | None = None) -> html.Div:
    """What every page shows before an organisation file has been loaded."""
    return _notice(
        f"{page}: no organisation is loaded",
        [
            html.P(
                "This command centre has no trust, sites, wards, beds, ED areas or "
                "theatres yet, so there is nothing to show. An administrator loads "
                "the organisation file on the server:"
            ),
            html.Pre(html.Code(LOAD_COMMAND), className="mb-2"),
            html.P(
                [
                    "The file format and how to load, check (",
                    html.Code("--dry-run"),
                    ") and change it are described in ",
                    html.Code(LOAD_DOC),
                    ". This page updates once the organisation is loaded.",
                ],
                className="mb-0 text-muted",
            ),
        ],
        recheck_ms,
    )


def no_data_yet(
    page: str, domain_label: str, feeds: list[str], recheck_ms: int | None = None
) -> html.Div:
    """A page whose figures all come from one domain that no feed has reported."""
    if feeds:
        seen = html.P(
            "Feeds that have reported so far (other domains): "
            + ", ".join(feeds)
            + ".",
            className="text-muted",
        )
    else:
        seen = html.P("No feed has reported yet.", className="text-muted")
    return _notice(
        f"{page}: no data yet",
        [
            html.P(
                f"No {domain_label} feed has reported yet, so there are no figures "
                "to show: the organisation describes where the beds, areas and "
                "theatres are, not what is happening in them."
            ),
            seen,
            html.P(
                "This page fills in as soon as a feed writes. /healthz lists every "
                "feed and the domains never reported.",
                className="mb-0 text-muted",
            ),
        ],
        recheck_ms,
        icon="bi-hourglass-split",
    )
