"""The ETag key every image route builds (app/caching.py `etag_key`)."""

from __future__ import annotations

from app.caching import etag_key


def test_options_keep_their_order_and_edits_count_only_when_there_are_some() -> None:
    # an unedited image keeps the validators it had before edits existed: no trace of `edits` at all
    assert etag_key("grid", {"seed": 1, "edits": {}, "size": 64}) == ("grid", 1, 64)
    assert etag_key("grid", {"seed": 1, "edits": None, "size": 64}) == ("grid", 1, 64)
    # edits sit where the route puts them, sorted by name, so equal edits give one key
    one = etag_key("interpolate", {"truncation": 1.0, "edits": {"b": 1.0, "a": -2.0}, "steps": 3})
    two = etag_key("interpolate", {"truncation": 1.0, "edits": {"a": -2.0, "b": 1.0}, "steps": 3})
    assert one == two == ("interpolate", 1.0, [("a", -2.0), ("b", 1.0)], 3)
    # other empty values are options like any other (a missing quality is part of the avatar's key)
    assert etag_key("avatar", {"code": "AQ", "quality": None}) == ("avatar", "AQ", None)
