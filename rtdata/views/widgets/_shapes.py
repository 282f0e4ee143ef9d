"""What the map draws under its points: GeoJSON shapes read once, as filled outlines and labels.

Private to :mod:`rtdata.views.widgets`; the map widget documents the behaviour it exposes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rtdata.views.widgets._spec import SpecError


def load_geojson(path: Path) -> Mapping[str, Any]:
    """Read a GeoJSON file, cached per path, modification time and size.

    Raises:
        FileNotFoundError: There is no such file.
        ValueError: The file is not a JSON object.
    """
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load(path: str, _mtime_ns: int, _size: int) -> Mapping[str, Any]:
    parsed = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(parsed, dict):
        raise SpecError("geojson", f"geojson {path!r} is not a JSON object")
    return parsed


def rings(shapes: Mapping[str, Any]) -> list[tuple[list[Any], dict[str, Any]]]:
    """Return the outer ring of every Polygon and MultiPolygon feature, with the feature."""
    found = []
    features = shapes.get("features", [])
    for feature in features if isinstance(features, list) else []:
        if not isinstance(feature, dict):
            continue
        geometry = feature.get("geometry") or {}
        polygons = geometry.get("coordinates") or []
        if geometry.get("type") == "Polygon":
            polygons = [polygons]
        elif geometry.get("type") != "MultiPolygon":
            continue
        for polygon in polygons:
            if polygon and polygon[0]:
                found.append((polygon[0], feature))
    return found


def shape_traces(shapes: Mapping[str, Any], label_property: str | None) -> list[dict[str, Any]]:
    """Return the traces of the shapes: every ring filled in one trace, then (with a
    ``label_property``) each ring's label at its mean point; neither is in the legend."""
    lons: list[float | None] = []
    lats: list[float | None] = []
    label_lon, label_lat, label_text = [], [], []
    for ring, feature in rings(shapes):
        lons.extend([p[0] for p in ring] + [None])
        lats.extend([p[1] for p in ring] + [None])
        if label_property is not None:
            label_lon.append(float(np.mean([p[0] for p in ring])))
            label_lat.append(float(np.mean([p[1] for p in ring])))
            label_text.append(str((feature.get("properties") or {}).get(label_property, "")))
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": lons,
            "y": lats,
            "mode": "lines",
            "fill": "toself",  # each None-separated ring is filled on its own
            "fillcolor": "rgba(120,144,156,0.12)",
            "line": {"color": "rgba(96,125,139,0.6)", "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": "shapes",
        }
    ]
    if label_text:
        traces.append(
            {
                "type": "scatter",
                "x": label_lon,
                "y": label_lat,
                "mode": "text",
                "text": label_text,
                "textfont": {"size": 9, "color": "rgba(69,90,100,0.8)"},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "shape names",
            }
        )
    return traces


def bounds(
    lons: Iterable[float], lats: Iterable[float], shapes: Mapping[str, Any] | None
) -> tuple[float, float, float, float] | None:
    """Return ``(lon_min, lat_min, lon_max, lat_max)`` fitting the points and the shapes (their
    ``bbox`` when they carry one), padded by 5 % (at least 0.005 degrees); ``None`` with
    neither."""
    lon_list = list(lons)
    lat_list = list(lats)
    if shapes is not None:
        bbox = (shapes.get("properties") or {}).get("bbox") or shapes.get("bbox")
        if isinstance(bbox, list) and len(bbox) == 4:
            lon_list += [float(bbox[0]), float(bbox[2])]
            lat_list += [float(bbox[1]), float(bbox[3])]
        else:
            for ring, _ in rings(shapes):
                lon_list += [float(p[0]) for p in ring]
                lat_list += [float(p[1]) for p in ring]
    if not lon_list:
        return None
    lon_min, lon_max = min(lon_list), max(lon_list)
    lat_min, lat_max = min(lat_list), max(lat_list)
    pad_lon = max((lon_max - lon_min) * 0.05, 0.005)
    pad_lat = max((lat_max - lat_min) * 0.05, 0.005)
    return (lon_min - pad_lon, lat_min - pad_lat, lon_max + pad_lon, lat_max + pad_lat)
