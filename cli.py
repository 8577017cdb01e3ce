"""Operator commands. `python cli.py token --help` mints a bearer token for the embedded stack."""

import argparse
import asyncio
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path

from api.auth import load_or_create_secret, mint_token
from audit.store import store_for
from contracts.enums import Industry, Role
from contracts.hazard import Actor
from contracts.reconcile import ReconcileInput, ReconcileReport
from imports import command as ledger_import
from infra import backup as data_backup
from infra.codec import data_converter, load_or_create_key
from infra.logging import configure_logging
from infra.schedules import SCHEDULES, ensure_schedules
from infra.temporal import connect, ensure_namespace
from readmodel import reconcile as reconciler
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


def schedules(args: argparse.Namespace, settings: Settings) -> None:
    async def run() -> None:
        # The schedules' inputs are payloads like any other: sealed with the service's key.
        key = load_or_create_key(settings.payload_key, settings.payload_key_file)
        client = await connect(settings.temporal_address, settings.temporal_namespace, data_converter(key))
        await ensure_schedules(client)

    asyncio.run(run())
    names = ", ".join(entry.id for entry in SCHEDULES)
    print(f"namespace {settings.temporal_namespace}: schedules in place ({names})", file=sys.stderr)


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


def run_reconciler(settings: Settings, input: ReconcileInput) -> None:
    """Progress on stderr, the report on stdout; exit 1 if drift is left (found, under --dry-run) or a hazard
    could not be checked. Open workflows answer through a worker: one must be polling the hazards queue."""
    configure_logging(json=settings.log_json)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    shown = 0.0

    def show(progress: reconciler.Progress) -> None:
        nonlocal shown
        if time.monotonic() - shown >= 1 or progress.done == progress.total:
            shown = time.monotonic()
            print(
                f"{progress.phase}: {progress.done}/{progress.total} hazards, drift {progress.drift}", file=sys.stderr
            )

    async def run() -> ReconcileReport:
        key = load_or_create_key(settings.payload_key, settings.payload_key_file)
        client = await connect(settings.temporal_address, settings.temporal_namespace, data_converter(key))
        return await reconciler.reconcile(client, engine, input, progress=show)

    try:
        report = asyncio.run(run())
    except reconciler.NoWorker as err:
        sys.exit(f"无法核对 / cannot reconcile: {err}")
    finally:
        engine.dispose()
    print("\n".join(reconciler.summary(report)))
    if report.errors or (report.drift if input.dry_run else report.unhealed):
        sys.exit(1)


def reconcile(args: argparse.Namespace, settings: Settings) -> None:
    run_reconciler(
        settings,
        ReconcileInput(
            dry_run=args.dry_run, deep=args.deep, delete_orphans=args.delete_orphans, concurrency=args.concurrency
        ),
    )


def rebuild_read_model(args: argparse.Namespace, settings: Settings) -> None:
    run_reconciler(
        settings, ReconcileInput(rebuild=True, delete_orphans=args.delete_orphans, concurrency=args.concurrency)
    )


def import_ledger(args: argparse.Namespace, settings: Settings) -> None:
    # Warnings and errors only: the progress bar and the report are the command's output.
    configure_logging(json=settings.log_json, level=logging.WARNING)
    sys.exit(ledger_import.run_import(settings, args.file, only_valid=args.only_valid, operator_name=args.operator))


def demo(args: argparse.Namespace, settings: Settings) -> None:
    configure_logging(json=settings.log_json, level=logging.WARNING)
    sys.exit(ledger_import.run_demo(settings, hazards=args.hazards, seed=args.seed, listings=args.listings))


def backup(args: argparse.Namespace, settings: Settings) -> None:
    try:
        made = data_backup.backup(settings, args.target)
    except data_backup.BackupError as err:
        sys.exit(f"备份失败 / backup failed: {err}")
    print(f"备份完成 / backed up: {made.files} files, {made.bytes:,} bytes -> {args.target}")


def restore(args: argparse.Namespace, settings: Settings) -> None:
    try:
        restored = data_backup.restore(settings, args.source)
    except data_backup.BackupError as err:
        sys.exit(f"恢复失败 / restore failed: {err}")
    print(f"恢复完成 / restored {restored} files into {settings.data_dir}")
    print("启动后请运行 / once started, run: cli.py verify-audit && cli.py reconcile")


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
    commands.add_parser(
        "schedules", help="create or update the service's Temporal schedules (infra/schedules.py: reports, ...)"
    ).set_defaults(run=schedules)
    audit = commands.add_parser(
        "verify-audit", help="walk the audit trail's hash chain and checkpoints; exit 1 naming the first bad record"
    )
    audit.add_argument("--checkpoint", action="store_true", help="then, if intact, checkpoint the chain's head")
    audit.set_defaults(run=verify_audit)
    check = commands.add_parser(
        "reconcile", help="compare every hazard workflow with the read model and heal drift (needs a running worker)"
    )
    check.add_argument("--dry-run", action="store_true", help="report only, write nothing; exit 1 if drift is found")
    check.add_argument("--deep", action="store_true", help="also compare closed hazards' events (a replay each)")
    check.set_defaults(run=reconcile)
    rebuild = commands.add_parser(
        "rebuild-read-model",
        help="rewrite every hazard's row, events and escalations from Temporal alone (needs a running worker)",
    )
    rebuild.set_defaults(run=rebuild_read_model)
    for command in (check, rebuild):
        command.add_argument(
            "--delete-orphans", action="store_true", help="delete rows of hazards that have no workflow (else reported)"
        )
        command.add_argument("--concurrency", type=int, default=8, help="hazards checked at once (default: 8)")

    ledger = commands.add_parser(
        "import", help="import a 重大隐患督改台账 (.xlsx) into the running stack: every row checked first"
    )
    ledger.add_argument("file", type=Path, help="the ledger, e.g. one exported from /ledgers/rectification.xlsx")
    ledger.add_argument("--only-valid", action="store_true", help="import the valid rows even if others are bad")
    ledger.add_argument("--operator", default="台账导入（命令行）", help="who imports, as recorded on each hazard")
    ledger.set_defaults(run=import_ledger)
    sample = commands.add_parser(
        "demo", help="build a realistic district ledger (demo data) and import it into the running stack"
    )
    sample.add_argument("--hazards", type=int, default=300, help="rows in the ledger (default: 300)")
    sample.add_argument("--seed", type=int, default=1, help="the same seed writes the same ledger (default: 1)")
    sample.add_argument("--listings", type=int, default=6, help="overdue hazards the committee office then lists")
    sample.set_defaults(run=demo)

    save = commands.add_parser(
        "backup", help="copy the data directory (Temporal, read model, evidence, audit checkpoints) while it runs"
    )
    save.add_argument("target", type=Path, help="a new or empty directory")
    save.set_defaults(run=backup)
    load = commands.add_parser(
        "restore", help="restore a checked backup into this stack's (empty) data directory, before starting it"
    )
    load.add_argument("source", type=Path, help="a directory `backup` wrote")
    load.set_defaults(run=restore)

    args = parser.parse_args(argv)
    args.run(args, Settings())


if __name__ == "__main__":
    main()
