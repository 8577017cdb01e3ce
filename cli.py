"""Operator commands. `python cli.py token --help` mints a bearer token for the embedded stack."""

import argparse
import asyncio
import sys
from datetime import timedelta

from api.auth import load_or_create_secret, mint_token
from audit.store import store_for
from contracts.enums import Industry, Role
from contracts.hazard import Actor
from infra.temporal import connect, ensure_namespace
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from settings import Settings


def token(args: argparse.Namespace, settings: Settings) -> None:
    if settings.jwt_jwks_url:
        sys.exit("tokens come from the identity platform (XIAOHAO_JWT_JWKS_URL is set); this command mints none")
    actor = Actor(
        id=args.id,
        name=args.name,
        role=Role(args.role),
        organisation=args.org,
        credit_code=args.credit_code,
        street=args.street,
        industries=[Industry(i) for i in args.industry],
    )
    secret = load_or_create_secret(settings.jwt_secret, settings.jwt_secret_file)
    print(
        mint_token(
            actor,
            secret=secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(hours=args.hours),
        )
    )


def migrate(args: argparse.Namespace, settings: Settings) -> None:
    upgrade(settings.database_url)
    print(f"read model at {settings.database_url} is up to date", file=sys.stderr)


def namespace(args: argparse.Namespace, settings: Settings) -> None:
    async def run() -> None:
        client = await connect(settings.temporal_address, settings.temporal_namespace)
        await ensure_namespace(client, settings.temporal_namespace)

    asyncio.run(run())
    print(f"namespace {settings.temporal_namespace}: retention and search attributes in place", file=sys.stderr)


def verify_audit(args: argparse.Namespace, settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        store = store_for(settings, engine)
        result = store.verify()
        if not result.ok:
            print(f"审计记录不可信 / audit trail BROKEN ({result.problem})")
            if result.first_bad_seq is not None:
                print(f"首条问题记录 / first bad record: seq {result.first_bad_seq}")
            print(result.reason)
            sys.exit(1)
        print(
            f"审计记录完整 / audit trail intact: {result.records_checked} 条记录 records, "
            f"{result.checkpoints_checked} 个检查点 checkpoints"
        )
        if args.checkpoint and (checkpoint := store.checkpoint()) is not None:
            print(f"检查点已写入 / checkpoint written: seq {checkpoint.seq} -> {store.checkpoint_path}")
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__)
    commands = parser.add_subparsers(required=True)

    mint = commands.add_parser("token", help="mint a bearer token signed with this stack's key")
    mint.add_argument("--role", required=True, choices=[r.value for r in Role])
    mint.add_argument("--id", required=True, help="user id, e.g. dept-002")
    mint.add_argument("--name", required=True, help="the official's name, e.g. 赵敏")
    mint.add_argument("--org", required=True, help="organisation, e.g. 南开区应急管理局")
    mint.add_argument("--credit-code", help="enterprise users: their enterprise's 统一社会信用代码")
    mint.add_argument("--street", help="street users: their street, e.g. 王顶堤街道")
    mint.add_argument(
        "--industry",
        action="append",
        default=[],
        choices=[i.value for i in Industry],
        help="department users: an industry they supervise (repeatable)",
    )
    mint.add_argument("--hours", type=float, default=8.0, help="validity (default: 8 hours)")
    mint.set_defaults(run=token)

    commands.add_parser("migrate", help="bring the read model's schema up to date").set_defaults(run=migrate)
    commands.add_parser(
        "namespace", help="create or update the Temporal namespace: 10-year retention, search attributes"
    ).set_defaults(run=namespace)
    audit = commands.add_parser(
        "verify-audit", help="walk the audit trail's hash chain and checkpoints; exit 1 naming the first bad record"
    )
    audit.add_argument("--checkpoint", action="store_true", help="then, if intact, checkpoint the chain's head")
    audit.set_defaults(run=verify_audit)

    args = parser.parse_args(argv)
    args.run(args, Settings())


if __name__ == "__main__":
    main()
