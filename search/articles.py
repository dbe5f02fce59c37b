"""What an article is: the typed record (`Article`, its `Provider`, `Image`s
and `related` `Stub`s) and the one rule for dates in it; nothing that reads files.

`search.records` turns a record file into an `Article`; the index, the
backends and the typed results only need the model.  Keeping it apart keeps
reading (PyYAML, the walk, the field checks) off the query path: a cold
`search query` never imports PyYAML.

* Dates: `parse_datetime` takes a datetime, a date or an ISO 8601 string
  (naive means UTC) and gives a tz-aware UTC datetime, the same on every
  Python >= 3.10; `iso_utc` writes one back as ``2020-02-12T04:00:00Z``.
* `describe(value)`: a bad value, short, for a message ('high', 3.7, true,
  null, a list); records, dates and filters quote bad values the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "UTC",
    "Article",
    "Image",
    "Provider",
    "Stub",
    "describe",
    "iso_utc",
    "parse_datetime",
    "scalar_text",
    "to_utc",
    "utc_seconds",
    "utf8",
]

UTC = timezone.utc


@dataclass(frozen=True)
class Provider:
    name: str | None
    domain: str | None


@dataclass(frozen=True)
class Image:
    url: str
    width: int | None = None
    height: int | None = None
    title: str | None = None


@dataclass(frozen=True)
class Stub:
    """A `related` entry: a short reference to another article."""

    title: str
    excerpt: str | None
    published: datetime | None
    url: str | None
    provider: Provider | None
    quality: int | None
    images: tuple[Image, ...]
    record: dict[str, Any]  # as written, JSON-safe, without `secured`


@dataclass(frozen=True)
class Article:
    path: Path
    title: str
    excerpt: str | None
    body: str | None
    published: datetime | None
    url: str | None
    amp_url: str | None
    cdn_amp_url: str | None
    type: str | None
    category: str | None
    quality: int | None
    heat: int | None
    is_published: bool | None
    provider: Provider | None
    topics: tuple[str, ...]
    images: tuple[Image, ...]
    related: tuple[Stub, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        """The record as a JSON-safe dict with the file's field names; None/empty left out.

        Nested values are shared with the article (`extra`, `Stub.record`): copy before changing.
        """
        out: dict[str, Any] = {
            "title": self.title,
            "excerpt": self.excerpt,
            "publishedDateTime": iso_utc(self.published) if self.published else None,
            "webUrl": self.url,
            "ampWebUrl": self.amp_url,
            "cdnAmpWebUrl": self.cdn_amp_url,
            "type": self.type,
            "category": self.category,
            "quality": self.quality,
            "heat": self.heat,
            "published": self.is_published,
            "provider": _provider_record(self.provider),
            "topics": list(self.topics),
            "images": [_image_record(image) for image in self.images],
            "related": [stub.record for stub in self.related],
            **self.extra,
            "body": self.body,
        }
        return {k: v for k, v in out.items() if v is not None and v != "" and v != [] and v != {}}


# --- dates ---------------------------------------------------------------------------------------

_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d\d?)(?:-(\d\d?)(?:(?:[Tt]|[ \t]+)(\d\d?):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"[ \t]*(?:([Zz])|([+-])(\d\d)(?::?(\d\d))?)?)?)?)?",
    re.ASCII,
)


def parse_datetime(value: object) -> datetime:
    """A tz-aware UTC datetime from a datetime, a date or an ISO 8601 string; naive means UTC.

    Strings: "2020", "2020-02", "2020-02-12", "2020-02-12T04:00", "...:00Z",
    "...+02:00" (also a space for "T", fractions of seconds, "+0200").  The
    same on every Python >= 3.10, unlike datetime.fromisoformat.  Anything
    else raises ValueError with a message fit for the user.
    """
    if isinstance(value, (datetime, str)):
        return to_utc(value)[0]
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"expected a date, got {describe(value)}")


def to_utc(value: datetime | str) -> tuple[datetime, bool]:
    """(the UTC datetime, False if it had a time of day but no zone)."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC), False
        try:
            return value.astimezone(UTC), True
        except OverflowError:
            raise ValueError(f"invalid date {describe(value)}: out of range") from None
    found = _ISO_DATE.fullmatch(value.strip())
    if found is None:
        example = "e.g. 2020-02-12 or 2020-02-12T04:00:00Z"
        raise ValueError(f"not a date: {describe(value)} (expected ISO 8601, {example})")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = found.groups()
    try:
        zone = UTC
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            zone = timezone(-offset if sign == "-" else offset)
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        when = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
            int(second or 0), micro, tzinfo=zone,
        )  # fmt: skip
        return when.astimezone(UTC), hour is None or bool(zulu or sign)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid date {describe(value)}: {exc}") from None


def iso_utc(when: datetime) -> str:
    """'2020-02-12T04:00:00Z' for a UTC datetime."""
    return when.isoformat()[:-6] + "Z"


def utc_seconds(when: datetime | None) -> str | None:
    """'2020-02-12T04:00:00Z': the moment in UTC, to the second, the year in
    four digits (strftime's %Y writes the year 202 as '202', which no reader
    of the form takes back)."""
    if when is None:
        return None
    when = when.astimezone(UTC)
    return f"{when.year:04d}-{when:%m-%dT%H:%M:%S}Z"


# --- values in messages and records --------------------------------------------------------------


def scalar_text(value: float | date) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 10_000:
        return hex(value)  # str() refuses ints over 4,300 digits
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def utf8(text: str) -> bool:
    """Whether `text` spells valid UTF-8: no surrogates, which is how os.fsdecode
    (file names, command-line arguments) keeps bytes of another encoding."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def describe(value: object) -> str:
    """A bad value, short, for a message: 'high', 3.7, true, null, a list."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, (int, float, date)):
        text = scalar_text(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, (list, tuple)) else f"a {type(value).__name__} value"


def _provider_record(provider: Provider | None) -> dict[str, str] | None:
    if provider is None:
        return None
    return {k: v for k, v in (("name", provider.name), ("domain", provider.domain)) if v}


def _image_record(image: Image) -> dict[str, Any]:
    pairs = (("url", image.url), ("width", image.width), ("height", image.height), ("title", image.title))
    return {k: v for k, v in pairs if v is not None}
