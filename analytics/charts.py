"""The one shape of every chart-ready answer: `{"x": [...], "series": [{"name", "data"}], "unit"}`.

ECharts takes it as `xAxis.data` plus `series[i].data`, Chart.js as `labels` plus `datasets[i]` (with `label`
for `name`): no reshaping in the frontend. Names and units are translated here, in the request's language.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.utils.encoding import force_str


def chart(x: Sequence[Any], series: Iterable[tuple[Any, Sequence[Any]]], unit: Any = "") -> dict[str, Any]:
    """`series` is (name, data) pairs; each data list must be as long as `x`."""
    out = {
        "x": list(x),
        "series": [{"name": force_str(name), "data": list(data)} for name, data in series],
        "unit": force_str(unit),
    }
    for entry in out["series"]:
        if len(entry["data"]) != len(out["x"]):
            raise ValueError(f"series {entry['name']!r} has {len(entry['data'])} points for {len(out['x'])} labels")
    return out
