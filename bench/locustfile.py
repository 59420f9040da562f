"""Locust users for ``bench/load.py``: wall displays polling and people changing filters.

Not meant to be run by hand: ``bench/load.py`` prepares the database (display tokens,
user accounts), starts gunicorn, writes the configuration this file reads
(``BENCH_LOAD_CONFIG``: tokens, accounts, callback bodies) and runs locust headless.

* :class:`WallDisplay` — an unattended screen: opens ``/wall?token=...`` (the display
  token becomes its session), loads the Dash layout, then every ``wall_poll_s`` seconds
  POSTs the wall's refresh callback, holding what it was sent as the page's
  ``wall-sent`` store does (so it gets differences, as a browser would) (and, every ``banner_every`` polls, the shell's
  banner callback that the page's own interval fires). A poll that takes longer than
  the interval would overlap the next one: counted.
* :class:`FilterUser` — a signed-in person: every 5-15 s changes a filter on Beds, ED,
  Theatres or the Overview (the filter callback, then the page refresh for the new
  query string).

Every request's time is recorded (not only locust's rounded percentiles) and written
to ``BENCH_LOAD_OUT`` when the run stops.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import re
import threading
import time

from locust import HttpUser, between, constant_pacing, events, task

CONFIG = json.loads(open(os.environ["BENCH_LOAD_CONFIG"]).read())  # noqa: SIM115
OUT = os.environ["BENCH_LOAD_OUT"]
HEADERS = {"Content-Type": "application/json"}

_lock = threading.Lock()
_tokens = itertools.cycle(CONFIG["tokens"])
_accounts = itertools.cycle(CONFIG["accounts"])
RECORD: dict = {"requests": [], "polls": [], "overlaps": 0, "errors": []}


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, exception, **kw):  # noqa: ANN001, ANN003
    with _lock:
        RECORD["requests"].append(
            [name, round(response_time, 2), response_length or 0, exception is not None,
             time.time()]
        )  # fmt: skip
        if exception is not None and len(RECORD["errors"]) < 50:
            RECORD["errors"].append(f"{name}: {exception!r}"[:300])


@events.quitting.add_listener
def _dump(environment, **kw) -> None:  # noqa: ANN001, ANN003
    with _lock, open(OUT, "w") as f:
        json.dump(RECORD, f)


def _body(template: dict, **values) -> dict:  # noqa: ANN003
    """A callback body with the given input values set (by "id.property")."""
    body = copy.deepcopy(template)
    for group in ("inputs", "state"):
        for item in body.get(group, []):
            key = f"{item['id']}.{item['property']}"
            if key in values:
                item["value"] = values[key]
    return body


def _post(user: HttpUser, body: dict, name: str) -> dict | None:
    """POST a callback; its JSON reply (``None`` on failure; ``{}`` for 204)."""
    with user.client.post("/_dash-update-component", data=json.dumps(body),
                          headers=HEADERS, name=name, catch_response=True) as r:  # fmt: skip
        if r.status_code == 204:
            return {}
        if r.status_code != 200:
            r.failure(f"HTTP {r.status_code}: {r.text[:120]}")
            return None
        return r.json()


class WallDisplay(HttpUser):
    fixed_count = CONFIG["displays"]
    wait_time = constant_pacing(CONFIG["wall_poll_s"])

    def on_start(self) -> None:
        with _lock:
            token = next(_tokens)
        self.search = "?token=" + token["token"]
        self.client.get(f"/wall{self.search}", name="wall page (token)")
        self.client.get("/_dash-layout", name="dash layout")
        self.client.get("/_dash-dependencies", name="dash dependencies")
        router = _body(CONFIG["router"], **{CONFIG["router_path"]: "/wall",
                                            CONFIG["router_search"]: self.search})  # fmt: skip
        _post(self, router, "router (/wall)")
        self.n = 0
        self.sent = None  # what the page holds (callbacks.delta), as a browser keeps it
        # start polling at a random point of the interval, as real screens do
        time.sleep(random.uniform(0, CONFIG["wall_poll_s"]))

    @task
    def poll(self) -> None:
        started = time.monotonic()
        self.n += 1
        body = _body(CONFIG["wall_refresh"], **{CONFIG["wall_interval"]: self.n,
                                                CONFIG["wall_search"]: self.search,
                                                CONFIG["wall_sent"]: self.sent})  # fmt: skip
        body["changedPropIds"] = [CONFIG["wall_interval"]]
        reply = _post(self, body, "wall refresh")
        store = CONFIG["wall_sent"].rsplit(".", 1)[0]
        sent = ((reply or {}).get("response") or {}).get(store, {}).get("data")
        if sent is not None:
            self.sent = sent
        if self.n % CONFIG["banner_every"] == 0:
            banner = _body(CONFIG["banner"], **{CONFIG["banner_interval"]: self.n,
                                                CONFIG["banner_path"]: "/wall"})  # fmt: skip
            _post(self, banner, "banner")
        took = time.monotonic() - started
        with _lock:
            RECORD["polls"].append(round(took * 1000, 2))
            if took > CONFIG["wall_poll_s"]:
                RECORD["overlaps"] += 1


class FilterUser(HttpUser):
    fixed_count = CONFIG["users"]
    wait_time = between(5, 15)

    def on_start(self) -> None:
        with _lock:
            account = next(_accounts)
        page = self.client.get("/login", name="login page")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        self.client.post(
            "/login",
            data={
                "csrf_token": csrf.group(1) if csrf else "",
                "username": account["username"],
                "password": account["password"],
                "next": "/",
            },  # fmt: skip
            name="login",
            allow_redirects=False,
        )
        self.client.get("/_dash-layout", name="dash layout")
        self.client.get("/_dash-dependencies", name="dash dependencies")
        self.rng = random.Random(account["username"])

    @task
    def change_filter(self) -> None:
        page = self.rng.choice(CONFIG["pages"])
        search = self.rng.choice(page["searches"])
        if page.get("filter"):
            body = _body(page["filter"], **{page["filter_address"]: ""})
            for item in body["inputs"]:
                name = f"{item['id']}.{item['property']}"
                if name != page["filter_address"]:
                    item["value"] = self.rng.choice(
                        page["filter_values"].get(name, [None])
                    )
            body["changedPropIds"] = [page["filter_changed"]]
            _post(self, body, f"{page['name']} filter")
        values = {page["interval"]: 1}
        if page["search"]:
            values[page["search"]] = search
        body = _body(page["refresh"], **values)
        body["changedPropIds"] = [page["search"] or page["interval"]]
        _post(self, body, f"{page['name']} refresh")
