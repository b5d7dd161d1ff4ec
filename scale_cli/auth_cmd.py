"""`scale tokens create|list|revoke` and `scale audit` (admin tokens only)."""

from __future__ import annotations

import click

from scale_cli import client
from scale_cli.output import console, json_option, print_json, show

TOKEN_COLUMNS = ["id", "name", "role", "is_active", "created", "expires", "revoked"]
AUDIT_COLUMNS = ["occurred", "token_name", "role", "method", "path", "status_code", "outcome"]


@click.group(help="API tokens: who may use the API, with which role.")
def tokens():
    pass


@tokens.command(name="create", help="Create a token; it is printed once (only its hash is kept).")
@click.option("--name", required=True, help="Who or what uses it (shown in the audit trail).")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]))
@click.option("--expires", help="ISO-8601 datetime with zone; default: never.")
@json_option
def create_token(name, role, expires, as_json):
    body = {"name": name, "role": role, **({"expires": expires} if expires else {})}
    created = client.post("/tokens/", body)
    if as_json:
        print_json(created)
        return
    console.print(f"token {created['id']} ({created['name']}, {created['role']}) created; it is shown only now:")
    click.echo(created["token"])


@tokens.command(name="list", help="Every token (never the token itself).")
@json_option
def list_tokens(as_json):
    show(client.get_all("/tokens/"), TOKEN_COLUMNS, as_json)


@tokens.command(name="revoke", help="Revoke a token: from now on it is refused.")
@click.argument("token_id", type=int)
def revoke_token(token_id):
    client.request("DELETE", f"/tokens/{token_id}/")
    console.print(f"token {token_id} revoked")


@click.command(help="The audit trail: every write through the API and the console, newest first.")
@click.option("--token-name", help="Only writes made with tokens of this name.")
@click.option("--outcome", type=click.Choice(["ok", "denied", "refused", "error"]))
@click.option("--since", help="ISO-8601 datetime or a duration before now (PT1H).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
def audit(token_name, outcome, since, limit, as_json):
    answer = client.get("/audit/", token_name=token_name, outcome=outcome, started=since, page_size=limit)
    show(answer["results"], AUDIT_COLUMNS, as_json)
