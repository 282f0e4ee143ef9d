"""A small field-service app that is not the hospital: its ``rtdata.toml`` and its data.

Tickets move through a status lifecycle for customers; technicians are out in the field with
coordinates; devices at customers' sites report load and battery; an ``ops`` broadcast channel
carries dispatch messages and agents on the ``floor`` presence channel track their team and the
customer they serve. Every widget type has a page of its own, named after it, so a test of a
widget reads that page alone.
"""

from __future__ import annotations

import time
from pathlib import Path

from rtdata.config import parse_config
from rtdata.introspect import ProjectSchema, schema_from_migrations
from rtdata.recorder import Recorder
from rtdata.settings import Settings
from tests.pages.harness import S_NS, broadcast, change, iso, presence

SOURCE = "field-service/rtdata.toml"
"""The name the config is parsed under: messages name it."""

CONFIG = """
[dashboard]
wall_pages = ["lifecycle", "map"]

[[channels]]
name = "desk"
  [[channels.postgres_changes]]
  table = "tickets"
  [[channels.postgres_changes]]
  table = "customers"
  [[channels.postgres_changes]]
  table = "technicians"
  [[channels.postgres_changes]]
  table = "sensor_readings"

[[channels]]
name = "ops"
broadcast = ["*"]

[[channels]]
name = "floor"
presence = true

[labels]
customer_id = "customers.name"

[[pages]]
name = "tiles"
title = "Desk overview"
icon = ":material/support_agent:"
  [[pages.widgets]]
  type = "tiles"
  events_per_min = true
    [[pages.widgets.tiles]]
    label = "Open tickets"
    table = "tickets"
    filter = "status=in.(new,assigned,in_progress)"
    [[pages.widgets.tiles]]
    label = "Urgent open"
    table = "tickets"
    filter = "priority=eq.1,status=in.(new,assigned,in_progress)"
    warn = 1
    critical = 3
    [[pages.widgets.tiles]]
    label = "Opened in the last hour"
    table = "tickets"
    time_column = "created_at"
    window_s = 3600
    [[pages.widgets.tiles]]
    label = "Customers"
    table = "customers"
    [[pages.widgets.tiles]]
    label = "Peak load"
    table = "sensor_readings"
    aggregate = "max"
    column = "load_pct"

[[pages]]
name = "lifecycle"
title = "Ticket board"
  [[pages.widgets]]
  type = "lifecycle"
  title = "Tickets by status"
  caption = "Open tickets, most urgent first."
  table = "tickets"
  status_column = "status"
  statuses = ["new", "assigned", "in_progress", "resolved", "closed"]
  terminal = ["resolved", "closed"]
  priority_column = "priority"
  created_column = "created_at"
  sla_s = { new = 300 }
  spans = [["new", "assigned"], ["assigned", "resolved"]]
  group_column = "customer_id"
  toast_filter = "priority=eq.1"
  toast_template = "Urgent ticket #{id}: {title}"

[[pages]]
name = "queue"
title = "Latest tickets"
  [[pages.widgets]]
  type = "queue"
  table = "tickets"
  columns = ["id", "title", "customer_id", "priority", "status", "updated_at"]
  labels = { customer_id = "customer" }
  order = "updated_at.desc"
  limit = 5
  highlight_s = 30

[[pages]]
name = "breakdown"
title = "Open by customer"
  [[pages.widgets]]
  type = "breakdown"
  title = "Open tickets per customer and status"
  width = "half"
  table = "tickets"
  by = ["customer_id", "status"]
  filter = "status=in.(new,assigned,in_progress)"
  [[pages.widgets]]
  type = "breakdown"
  title = "Oldest open ticket per priority (s)"
  width = "half"
  table = "tickets"
  by = ["priority"]
  measure = "oldest_age"
  column = "created_at"
  filter = "status=in.(new,assigned,in_progress)"

[[pages]]
name = "feed"
title = "Activity"
  [[pages.widgets]]
  type = "feed"
  title = "Ticket changes"
  table = "tickets"
  template = "Ticket #{id} {title}: {status}"
  limit = 4
  toast_filter = "priority=eq.1"
  [[pages.widgets]]
  type = "feed"
  title = "Dispatch"
  channel = "ops"
  template = "{message}"

[[pages]]
name = "series"
title = "Sensors"
  [[pages.widgets]]
  type = "series"
  title = "Device load and battery"
  table = "sensor_readings"
  time_column = "measured_at"
  columns = ["load_pct", "battery_pct"]
  entity_column = "device_id"
  cohort_column = "customer_id"
  bands = { load_pct = [0, 85], battery_pct = { lower = 20 } }

[[pages]]
name = "map"
title = "Technicians"
  [[pages.widgets]]
  type = "map"
  table = "technicians"
  lat_column = "lat"
  lon_column = "lon"
  colour_column = "status"
  colours = { available = "#2ca02c", busy = "#d62728" }
  hover = "{name} · {skill}"

[[pages]]
name = "roster"
title = "Floor"
  [[pages.widgets]]
  type = "roster"
  title = "Agents online"
  channels = ["floor"]
  group_by = ["team", "customer_id"]
"""

MIGRATION = """
create type public.ticket_status as enum ('new', 'assigned', 'in_progress', 'resolved', 'closed');

create table public.customers (
  id bigint primary key,
  name text not null,
  tier text not null default 'silver'
);

create table public.technicians (
  id bigint primary key,
  name text not null,
  skill text not null,
  status text not null default 'available',
  lat float8,
  lon float8
);

create table public.tickets (
  id bigint generated by default as identity primary key,
  title text not null,
  customer_id bigint not null references public.customers (id),
  priority int2 not null default 3,
  status public.ticket_status not null default 'new',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.sensor_readings (
  id bigint generated by default as identity primary key,
  device_id text not null,
  customer_id bigint not null references public.customers (id),
  load_pct float8 not null,
  battery_pct float8 not null,
  measured_at timestamptz not null default now()
);
"""
"""The app's tables as a Supabase migration."""

CUSTOMERS = {1: "Acme Bakery", 2: "Borealis Labs", 3: "Cobalt Freight"}

TICKETS: dict[int, tuple[str, int, int, tuple[tuple[str, float], ...]]] = {
    # id: (title, customer_id, priority, ((status, seconds before now), ...))
    1: (
        "Printer jam",
        1,
        3,
        (("new", 10800), ("assigned", 10740), ("in_progress", 7200), ("resolved", 1800)),
    ),
    2: ("Router down", 2, 1, (("new", 1200), ("assigned", 1080), ("in_progress", 900))),
    3: ("Badge reader", 1, 2, (("new", 950), ("assigned", 890))),
    4: ("Slow laptop", 3, 4, (("new", 600),)),
    5: (
        "VPN drops",
        2,
        2,
        (
            ("new", 2400),
            ("assigned", 2280),
            ("in_progress", 1500),
            ("resolved", 700),
            ("closed", 300),
        ),
    ),
    6: ("Locked out", 3, 1, (("new", 5),)),
}
"""Each ticket's history: inserted in its first status, then updated into each next one."""

TECHNICIANS = [
    {"id": 1, "name": "Dana Reyes", "skill": "hvac", "status": "available", "lat": 52.37, "lon": 4.89},
    {"id": 2, "name": "Eli Novak", "skill": "network", "status": "busy", "lat": 52.36, "lon": 4.91},
    {"id": 3, "name": "Fay Osei", "skill": "printers", "status": "available", "lat": 52.35, "lon": 4.87},
    {"id": 4, "name": "Gus Park", "skill": "network", "status": "busy", "lat": None, "lon": None},
]  # fmt: skip
"""Gus has no position: the map draws three of four."""

TABLES = {
    "tickets": ("id",),
    "customers": ("id",),
    "technicians": ("id",),
    "sensor_readings": ("id",),
}
"""The app's tables and their primary keys."""

DEVICES = {"D-1": 1, "D-2": 2, "D-3": 3}
"""Device -> the customer whose site it is at."""

READINGS_PER_DEVICE = 10
OUT_OF_RANGE = {("D-2", 8): ("load_pct", 95.0), ("D-3", 9): ("battery_pct", 12.0)}
"""Two readings outside their band: D-2's load at its 9th reading, D-3's battery at its last."""

AGENTS = [("ana", "billing", 1), ("ben", "billing", 2), ("cy", "support", 1), ("dee", "support", 1)]
"""Agents who join the floor (user, team, customer_id); ben leaves again."""

DISPATCHES = ["Dana dispatched to Acme Bakery", "Eli dispatched to Borealis Labs"]


def schema(folder: Path) -> ProjectSchema:
    """The app's tables and columns as PostgREST serves them, from :data:`MIGRATION` written
    into ``folder``."""
    path = folder / "0001_field_service.sql"
    path.write_text(MIGRATION, encoding="utf-8")
    return schema_from_migrations(path)


def config_recorder() -> Recorder:
    """A recorder following the field-service config, with nothing recorded."""
    return Recorder(Settings(config=parse_config(CONFIG, SOURCE)))


def filled() -> Recorder:
    """A recorder following the field-service config, filled (see :func:`fill`)."""
    return fill(config_recorder())


def fill(recorder: Recorder) -> Recorder:
    """Record the app's data into ``recorder`` and return it: customers and technicians as
    snapshot rows, tickets and sensor readings as realtime changes, agents joining the floor
    and dispatches on ``ops``, all relative to now."""
    now_ns = time.time_ns()

    def ago(seconds: float) -> int:
        return now_ns - int(seconds * S_NS)

    for id_, name in CUSTOMERS.items():
        row = {"id": id_, "name": name, "tier": "gold" if id_ == 1 else "silver"}
        recorder.record(
            change("customers", "SNAPSHOT", row, ago(86_400))._replace(source="snapshot")
        )
    for row in TECHNICIANS:
        recorder.record(
            change("technicians", "SNAPSHOT", row, ago(3600))._replace(source="snapshot")
        )
    for id_, (title, customer_id, priority, steps) in TICKETS.items():
        created = iso(ago(steps[0][1]))
        row = {"id": id_, "title": title, "customer_id": customer_id, "priority": priority}
        for i, (status, seconds) in enumerate(steps):
            new = {**row, "status": status, "created_at": created, "updated_at": iso(ago(seconds))}
            op = "INSERT" if i == 0 else "UPDATE"
            old = None if i == 0 else {"id": id_}
            recorder.record(change("tickets", op, new, ago(seconds), old=old))
    reading_id = 0
    for device, customer_id in DEVICES.items():
        for i in range(READINGS_PER_DEVICE):
            reading_id += 1
            seconds = (READINGS_PER_DEVICE - i) * 60 - 30
            values = {"load_pct": 40.0 + i, "battery_pct": 90.0 - i}
            if (device, i) in OUT_OF_RANGE:
                column, value = OUT_OF_RANGE[device, i]
                values[column] = value
            row = {
                "id": reading_id,
                "device_id": device,
                "customer_id": customer_id,
                **values,
                "measured_at": iso(ago(seconds)),
            }
            recorder.record(change("sensor_readings", "INSERT", row, ago(seconds)))
    for i, (user, team, customer_id) in enumerate(AGENTS):
        meta = {"user": user, "team": team, "customer_id": customer_id, "presence_ref": f"r{i}"}
        recorder.record(presence("floor", "join", user, [meta], ago(900 - i * 60)))
    recorder.record(presence("floor", "leave", "ben", None, ago(120)))
    for i, message in enumerate(DISPATCHES):
        recorder.record(broadcast("ops", "dispatch", {"message": message}, ago(400 - i * 100)))
    return recorder
