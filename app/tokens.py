"""API tokens: roles, creation, revocation and the check of a presented token.

A token is 32 random bytes (URL-safe text with a `scale_` prefix); only its SHA-256 is stored, so a
copy of the database gives no one a way in. The first admin token is made on the command line:

    python -m app.tokens create --name ops --role admin [--expires-in-days 90]
    python -m app.tokens list
    python -m app.tokens revoke <id>
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import ApiToken
from app.specs.base import Problem, SpecError

# Each role may do everything the ones before it may.
ROLES = ("viewer", "operator", "admin")
PREFIX = "scale_"
NAME_MAX = 100


@dataclass(frozen=True)
class Identity:
    """Who is asking: a token's name and role (the anonymous identity when authentication is off)."""

    name: str | None
    role: str
    token_id: int | None = None


ANONYMOUS = Identity(None, "admin")


def allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_active(row: ApiToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return row.revoked is None and (row.expires is None or row.expires > now)


def create_token(session: Session, name: str, role: str, expires: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token row (added, not committed) and the token itself, which is never stored."""
    problems = []
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        problems.append(
            Problem("INVALID_NAME", f"name: a non-empty string of at most {NAME_MAX} characters is required")
        )
    if role not in ROLES:
        problems.append(Problem("INVALID_ROLE", f"role: expected one of {', '.join(ROLES)}, got {role!r}"))
    if expires is not None and expires <= utcnow():
        problems.append(Problem("INVALID_EXPIRES", "expires: must be in the future"))
    if not problems and active_named(session, name.strip()):
        problems.append(
            Problem("NAME_IN_USE", f"name: an active token named {name.strip()!r} exists (revoke it first)")
        )
    if problems:
        raise SpecError(problems)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name.strip(), role=role, token_hash=token_hash(token), expires=expires)
    session.add(row)
    session.flush()
    return row, token


def active_named(session: Session, name: str) -> ApiToken | None:
    rows = session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked.is_(None))).all()
    return next((row for row in rows if is_active(row)), None)


def revoke(row: ApiToken) -> None:
    if row.revoked is None:
        row.revoked = utcnow()


def identity_of(row: ApiToken | None) -> Identity | None:
    return Identity(row.name, row.role, row.id) if row is not None and is_active(row) else None


def authenticate(session: Session, token: str) -> Identity | None:
    """The identity a presented token stands for; None when it is unknown, revoked or expired."""
    if not token.startswith(PREFIX):
        return None
    return identity_of(session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token))))


# ---------------------------------------------------------------- command line


@click.group(help="Create, list and revoke API tokens (the first admin token is made here).")
def cli() -> None:
    pass


@cli.command()
@click.option("--name", required=True, help="Who or what uses the token (shown in the audit trail).")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--expires-in-days", type=click.IntRange(min=1), help="Expire after this many days (default: never).")
def create(name: str, role: str, expires_in_days: int | None) -> None:
    """Print a new token once; only its hash is kept."""
    from app.db import session_scope

    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with session_scope() as session:
        try:
            row, token = create_token(session, name, role, expires)
        except SpecError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"token {row.id} ({row.name}, {row.role}) created; it is shown only now:", err=True)
    click.echo(token)


@cli.command(name="list")
def list_tokens() -> None:
    """Every token: id, name, role, expiry and whether it is active."""
    from app.db import session_scope

    with session_scope() as session:
        for row in session.scalars(select(ApiToken).order_by(ApiToken.id)):
            state = "active" if is_active(row) else ("revoked" if row.revoked else "expired")
            expires = row.expires.isoformat() if row.expires else "never"
            click.echo(f"{row.id}\t{row.name}\t{row.role}\t{state}\texpires {expires}")


@cli.command(name="revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke a token at once: requests that present it get 401."""
    from app.db import session_scope

    with session_scope() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise click.ClickException(f"no token {token_id}")
        revoke(row)
    click.echo(f"token {token_id} revoked")


if __name__ == "__main__":
    cli(prog_name="python -m app.tokens")
