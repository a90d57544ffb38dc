"""Tags: per-owner labels on positions, validated where they enter.

Rules: 1–40 characters of letters, digits, space, ``-``, ``_`` and ``.``;
unique per owner ignoring case; at most :data:`MAX_TAGS_PER_POSITION` on one
position. Deleting a tag that positions use needs ``force`` and detaches it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import Owner, Position, PositionTag, Tag
from sigmasight_lib.exceptions import NotFoundError, SigmaSightError

MAX_TAG_LENGTH = 40
MAX_TAGS_PER_POSITION = 20
_TAG_PATTERN = re.compile(r"^[A-Za-z0-9 _.\-]+$")


class TagError(SigmaSightError, ValueError):
    """A tag name or tag operation is not allowed; the message quotes the value."""


def validate_tag_name(name: str) -> str:
    """The tag name stripped of surrounding spaces, or :class:`TagError` saying why not."""
    clean = name.strip() if isinstance(name, str) else name
    if not isinstance(clean, str) or not clean:
        raise TagError(f"tag {name!r}: must not be empty")
    if len(clean) > MAX_TAG_LENGTH:
        raise TagError(f"tag {clean!r}: longer than {MAX_TAG_LENGTH} characters ({len(clean)})")
    if not _TAG_PATTERN.match(clean):
        bad = sorted({c for c in clean if not _TAG_PATTERN.match(c)})
        raise TagError(
            f"tag {clean!r}: character(s) {' '.join(repr(c) for c in bad)} not allowed "
            "(letters, digits, space, '-', '_', '.')"
        )
    return clean


def get_or_create_tag(session: Session, owner: Owner, name: str) -> Tag:
    """The owner's tag named ``name`` (case-insensitive match), created if absent.

    Raises :class:`TagError` for a name that breaks the tag rules.
    """
    name = validate_tag_name(name)
    key = name.casefold()
    tag = session.scalar(select(Tag).where(Tag.owner_id == owner.id, Tag.name_key == key))
    if tag is None:
        tag = Tag(owner_id=owner.id, name=name.strip(), name_key=key)
        session.add(tag)
        session.flush()
    return tag


def get_or_create_tags(session: Session, owner: Owner, names: Iterable[str]) -> dict[str, Tag]:
    """The owner's tags named ``names``, keyed by ``name.casefold()``; absent ones created.

    One query for the existing tags and one flush for the new ones (an import
    resolves every row's tags at once instead of a query and a flush per row).
    Raises :class:`TagError` for the first name, in order, that breaks the tag rules.
    """
    wanted: dict[str, str] = {}
    for name in names:
        clean = validate_tag_name(name)
        wanted.setdefault(clean.casefold(), clean)
    keys = list(wanted)
    found: dict[str, Tag] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        chunk = keys[start : start + 500]
        stmt = select(Tag).where(Tag.owner_id == owner.id, Tag.name_key.in_(chunk))
        found.update((t.name_key, t) for t in session.scalars(stmt))
    new = [Tag(owner_id=owner.id, name=wanted[k], name_key=k) for k in keys if k not in found]
    if new:
        session.add_all(new)
        session.flush()
        found.update((t.name_key, t) for t in new)
    return found


def _owner(session: Session, email: str) -> Owner:
    owner = session.scalar(select(Owner).where(Owner.email == email.strip().lower()))
    if owner is None:
        raise NotFoundError(f"no owner {email!r}")
    return owner


def _tag(session: Session, owner: Owner, name: str) -> Tag:
    tag = session.scalar(
        select(Tag).where(Tag.owner_id == owner.id, Tag.name_key == name.strip().casefold())
    )
    if tag is None:
        raise NotFoundError(f"owner {owner.email} has no tag {name!r}")
    return tag


def list_tags(session: Session, owner_email: str | None = None) -> pd.DataFrame:
    """Tags with their owner and how many positions use each."""
    usage = dict(
        session.execute(select(PositionTag.tag_id, func.count()).group_by(PositionTag.tag_id)).all()
    )
    stmt = select(Tag, Owner.email).join(Owner).order_by(Owner.email, Tag.name_key)
    if owner_email:
        stmt = stmt.where(Owner.email == owner_email.strip().lower())
    rows = [
        {"id": t.id, "owner": email, "name": t.name, "positions": int(usage.get(t.id, 0))}
        for t, email in session.execute(stmt).all()
    ]
    return pd.DataFrame(rows, columns=["id", "owner", "name", "positions"])


def create_tag(session: Session, owner_email: str, name: str) -> Tag:
    """A new tag; :class:`TagError` when the owner already has it (any case)."""
    owner = _owner(session, owner_email)
    clean = validate_tag_name(name)
    existing = session.scalar(
        select(Tag).where(Tag.owner_id == owner.id, Tag.name_key == clean.casefold())
    )
    if existing is not None:
        raise TagError(f"tag {clean!r}: owner {owner.email} already has {existing.name!r}")
    tag = Tag(owner_id=owner.id, name=clean, name_key=clean.casefold())
    session.add(tag)
    session.flush()
    return tag


def rename_tag(session: Session, owner_email: str, old: str, new: str) -> Tag:
    """Rename a tag; a change of case only is allowed, a clash with another tag is not."""
    owner = _owner(session, owner_email)
    tag = _tag(session, owner, old)
    clean = validate_tag_name(new)
    clash = session.scalar(
        select(Tag).where(
            Tag.owner_id == owner.id, Tag.name_key == clean.casefold(), Tag.id != tag.id
        )
    )
    if clash is not None:
        raise TagError(f"tag {clean!r}: owner {owner.email} already has {clash.name!r}")
    tag.name, tag.name_key = clean, clean.casefold()
    session.flush()
    return tag


def delete_tag(session: Session, owner_email: str, name: str, *, force: bool = False) -> int:
    """Delete a tag; returns how many positions it was detached from.

    Raises
    ------
    TagError
        When positions use the tag and ``force`` is False.
    """
    owner = _owner(session, owner_email)
    tag = _tag(session, owner, name)
    used = session.scalar(
        select(func.count()).select_from(PositionTag).where(PositionTag.tag_id == tag.id)
    )
    if used and not force:
        raise TagError(
            f"tag {tag.name!r} is used by {used} position(s): pass --force to detach and delete it"
        )
    session.delete(tag)
    session.flush()
    return int(used or 0)


def tag_position(
    session: Session, position_id: int, *, add: list[str] = (), remove: list[str] = ()
) -> list[str]:
    """Add and remove tags of a position (tags are created for its owner as needed).

    Returns the position's tags afterwards. Raises :class:`TagError` for an
    invalid name or more than :data:`MAX_TAGS_PER_POSITION` tags.
    """
    position = session.get(Position, position_id)
    if position is None:
        raise NotFoundError(f"no position {position_id}")
    owner = position.portfolio.owner
    tags = {t.name_key: t for t in position.tags}
    for name in remove:
        key = validate_tag_name(name).casefold()
        if key not in tags:
            raise TagError(f"position {position_id} has no tag {name!r}")
        del tags[key]
    for name in add:
        clean = validate_tag_name(name)
        tags.setdefault(clean.casefold(), get_or_create_tag(session, owner, clean))
    if len(tags) > MAX_TAGS_PER_POSITION:
        raise TagError(
            f"position {position_id} would have {len(tags)} tags, more than {MAX_TAGS_PER_POSITION}"
        )
    position.tags = list(tags.values())
    session.flush()
    return sorted(t.name for t in position.tags)
