"""Talent Island citizen services: the application factory and the command line.

python main.py serve      migrate (outside production), seed (demo mode) and serve with uvicorn
python main.py migrate    upgrade the database to the newest migration
python main.py seed       add reference data, and demo data when TI_DEMO=true (idempotent)
python main.py openapi    write openapi/openapi.json (--check: fail if it differs from the app)
python main.py cloud-mock serve the mock government cloud alone (point TI_CLOUD_BASE_URL at it)
python main.py worker     drain the outbox into handlers and run scheduled jobs (SIGTERM stops it gracefully)
"""

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import services.tasks  # noqa: F401 (registers the worker's handlers and scheduled jobs)
from auth import endpoints as oauth_endpoints
from auth.guards import require
from auth.identity import Identity
from auth.recovery.pages import router as recovery_pages
from auth.recovery.router import router as recovery_router
from auth.router import accounts as accounts_router
from auth.router import admin as admin_router
from core import health
from core.audit.router import build_router as build_audit_router
from core.audit.sequencer import AuditSequencer
from core.db import Database
from core.docs import docs_router
from core.errors import install_error_handlers
from core.http import RequestContextMiddleware, include_routers
from core.http.middleware import OWN_FORMAT_PREFIXES
from core.logging import configure_logging
from core.openapi import install_openapi, operation_id
from core.outbox_router import build_router as build_outbox_router
from core.settings import PROJECT_ROOT, Settings, get_settings
from core.worker import Worker, WorkerSettings
from services.calendar.router import router as calendar_router
from services.catalogue.router import open311 as open311_router
from services.catalogue.router import router as catalogue_router
from services.cloud.dependencies import MOCK_MOUNT, build_cloud
from services.cloud.router import callbacks as cloud_callbacks_router
from services.cloud.router import identity_check as identity_check_router
from services.credentials.router import router as credentials_router
from services.notifications.router import router as notifications_router
from services.notifications.service import code_sender
from services.partners.dependencies import webhook_client, webhook_guard
from services.partners.router import router as partners_router
from services.partners.service import Receivers
from services.permits.router import router as permits_router
from services.talent.router import router as talent_router

OPENAPI_PATH = PROJECT_ROOT / "openapi" / "openapi.json"

DESCRIPTION = """\
Backend of the Talent Island (Jiangmen) digital-government pilot: the bilingual service catalogue, permit
applications, talent registration, its own OAuth2 / OpenID Connect authorization server, and the adapter to the
government cloud.

Errors are RFC 9457 `application/problem+json`. Lists are keyset pages (`limit`, `cursor` -> `next_cursor`).
"""

TAGS = [
    {"name": "health", "description": "Liveness, readiness and metrics."},
    {
        "name": "oauth2",
        "description": "OAuth 2.0 / OpenID Connect authorization server (code + PKCE S256, client "
        "credentials, refresh rotation, revocation, introspection, discovery, logout).",
    },
    {"name": "accounts", "description": "Citizen sign-up and the signed-in person's own account."},
    {"name": "admin", "description": "Accounts and OAuth clients, for administrators."},
    {"name": "audit", "description": "The hash-chained audit trail, its verification and signed checkpoints."},
    {
        "name": "catalogue",
        "description": "Departments and bilingual public services (CPSV-AP / HSDS names): public "
        "reads and search, editors' drafts, publishers' lifecycle.",
    },
    {
        "name": "calendar",
        "description": "The official working-day calendar (public holidays and make-up working days) that "
        "deadlines in working days are counted on.",
    },
    {"name": "open311", "description": "The catalogue as Open311 GeoReport v2 services and service definitions."},
    {
        "name": "credentials",
        "description": "Issued permits and talent cards as signed credentials (JWS in the JWKS, QR code): public "
        "verification of integrity and status, the holder's own, supervisors' suspend / reinstate / revoke.",
    },
    {
        "name": "permits",
        "description": "Permit applications: drafts pinned to a service version, the lifecycle (allowed_actions, "
        "If-Match, dry_run), documents through presigned storage, fees and payment, the officer queue with its SLA "
        "clock, and the public register of issued permits.",
    },
    {
        "name": "talent",
        "description": "Talent registration: versioned rule sets (criteria with bands, bonus points, tier "
        "thresholds, direct routes) and what-if assessments with a per-criterion breakdown.",
    },
    {"name": "notifications", "description": "The signed-in person's inbox (read / unread)."},
    {
        "name": "partners",
        "description": "Webhook subscriptions of partner systems: Standard Webhooks signatures, at-least-once "
        "delivery with retries, delivery history and replay.",
    },
    {
        "name": "cloud callbacks",
        "description": "Payment notifications and SMS delivery reports from the government cloud: TC3-signed, "
        "replay-proof, idempotent.",
    },
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI application; every process (server worker, test) calls this once."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    database = Database(settings)
    identity = Identity(settings, database)
    if not settings.is_production:
        # Authlib refuses plain-http requests unless told otherwise; production sits behind TLS.
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

    # On PostgreSQL audit entries are chained in the background; SQLite chains them inside each write transaction.
    sequencer = None if database.is_sqlite or not settings.audit_sequencer else AuditSequencer(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await identity.ready()  # signing keys exist before the first request
        if sequencer:
            sequencer.start()
        worker = _start_worker(app) if settings.worker_in_app else None
        if settings.freeze_startup_heap:
            # Full collections scanned this never-garbage heap: GET /me's p99 under load went from ~105 ms to ~13 ms.
            gc.collect()
            gc.freeze()
        yield
        if worker:
            await _stop_worker(*worker)
        if sequencer:
            await sequencer.stop()
        await cloud.close()
        await app.state.webhook_http.aclose()
        await identity.close()
        await database.dispose()

    app = FastAPI(
        title="Talent Island citizen services",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
        # Metrics are Prometheus (core.metrics) and there is no OpenTelemetry here: FastAPI's native telemetry would
        # only look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.db = database
    app.state.readiness = health.Readiness(database)
    app.state.identity = identity
    cloud = app.state.cloud = build_cloud(settings, app)
    app.state.webhook_guard = webhook_guard(settings)
    app.state.webhook_http = webhook_client(settings)
    app.state.webhook_receivers = Receivers()
    app.state.phone_code_sender = code_sender(app.state)  # auth's codes go by the cloud's SMS (auth.recovery)

    install_error_handlers(app)
    install_openapi(app, description=DESCRIPTION)
    if settings.cors_origins:
        # Bearer tokens, not cookies, authorize the API, so credentials are never allowed cross-origin.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        hsts=settings.is_production,
        access_log=settings.access_log,
        # The in-process mock cloud's object uploads are capped by their presigned URL, not the API body limit.
        unlimited_prefixes=(f"{MOCK_MOUNT}/storage/",) if cloud.mock_app else (),
        # The mock cloud stands for another server: its objects are opaque bytes, not text of ours.
        own_format_prefixes=(*OWN_FORMAT_PREFIXES, f"{MOCK_MOUNT}/") if cloud.mock_app else OWN_FORMAT_PREFIXES,
    )

    # Gated by their routes' literal prefixes (core.http.routing): FastAPI would walk every router before the one that
    # matches, route by route.
    include_routers(
        app,
        [
            health.router,
            oauth_endpoints.router,
            recovery_pages,
            accounts_router,
            recovery_router,
            admin_router,
            build_audit_router(require(scopes={"audit:read"}, roles={"auditor"})),
            catalogue_router,
            calendar_router,
            open311_router,
            identity_check_router,
            cloud_callbacks_router,
            permits_router,
            talent_router,
            credentials_router,
            notifications_router,
            partners_router,
            build_outbox_router(require(scopes={"admin"}, roles={"admin"}, people_only=True)),
        ],
    )
    if cloud.mock_app is not None:  # browsers reach presigned URLs and payment pages of the in-process mock here
        app.mount(MOCK_MOUNT, cloud.mock_app)
    swagger_login = {"clientId": "swagger-ui", "usePkceWithAuthorizationCodeGrant": True, "scopes": "openid profile"}
    app.include_router(docs_router(app, init_oauth=swagger_login))
    return app


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def _migrate(settings: Settings) -> None:
    from core.migrate import upgrade

    if settings.is_sqlite:
        Path(settings.database_url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)


def _seed(settings: Settings) -> list[str]:
    import services.models  # noqa: F401
    from services.seed import seed

    async def run() -> list[str]:
        database = Database(settings)
        try:
            return await seed(database, settings)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    if not settings.is_production and not args.no_migrate:
        _migrate(settings)
        _seed(settings)
    workers = args.workers or settings.workers
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics here so one scrape sees every process.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ti-metrics-")
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        "main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        access_log=False,
        log_config=None,
    )


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from auth.schemas import StaffCreate
    from auth.service import create_staff

    password = os.environ.get("TI_ADMIN_PASSWORD") or getpass.getpass("Password for the new administrator: ")
    data = StaffCreate(username=args.username, name=args.name, password=password, roles=["admin"])

    async def run() -> str:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                account = await create_staff(session=session, identity=Identity(settings, database), data=data)
                return str(account.id)
        finally:
            await database.dispose()

    print(f"created administrator {args.username} ({asyncio.run(run())})")
    return 0


def _rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    def rotate(connection: object, keyring: object, purposes: list[str]) -> list[str]:
        keyring.load(connection)  # type: ignore[attr-defined]
        return [f"{p}: new key {keyring.rotate(connection, p)}" for p in purposes]  # type: ignore[attr-defined]

    async def run() -> list[str]:
        database = Database(settings)
        identity = Identity(settings, database)
        try:
            async with database.write_engine.begin() as connection:
                purposes = args.purpose or ["access", "id", "credential"]
                return await connection.run_sync(rotate, identity.keyring, purposes)
        finally:
            await database.dispose()

    print("\n".join(asyncio.run(run())))
    return 0


def _cloud_mock(settings: Settings, args: argparse.Namespace) -> int:
    import httpx
    import uvicorn

    from services.cloud.dependencies import mock_for
    from services.cloud.mock_server import create_mock_app

    callback = httpx.AsyncClient(base_url=args.callback_url, timeout=10.0)
    mock = mock_for(settings, public_base_url=f"http://{args.host}:{args.port}", callback=callback)
    if args.faults:
        mock.set_faults(json.loads(args.faults))
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(create_mock_app(mock), host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


def worker_settings(settings: Settings) -> WorkerSettings:
    return WorkerSettings(
        batch_size=settings.worker_batch_size,
        lease_seconds=settings.worker_lease_seconds,
        max_attempts=settings.worker_max_attempts,
        backoff_seconds=settings.worker_backoff_seconds,
        poll_seconds=settings.worker_poll_seconds,
    )


def _start_worker(app: FastAPI) -> tuple[Worker, asyncio.Task]:
    """A worker running beside the app in this process (the embedded default, `TI_WORKER_IN_APP`)."""
    worker = Worker(app.state.db, context=app.state, settings=worker_settings(app.state.settings))
    return worker, asyncio.create_task(worker.run(), name="worker")


async def _stop_worker(worker: Worker, task: asyncio.Task) -> None:
    worker.stop()  # the batch in hand is finished first
    await task


def _worker(settings: Settings) -> int:
    import signal

    async def run() -> None:
        # This process is the worker: the app's own in-app worker (TI_WORKER_IN_APP, set for `make run`) would be a
        # second one, which SIGTERM did not stop.
        app = create_app(settings.model_copy(update={"worker_in_app": False}))
        async with app.router.lifespan_context(app):  # keys, the audit sequencer, the cloud: as in a server
            worker, task = _start_worker(app)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, worker.stop)
            await task

    asyncio.run(run())
    return 0


def export_openapi(app: FastAPI) -> str:
    """The spec as committed: sorted keys, two-space indent, UTF-8, trailing newline."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    text = export_openapi(create_app(settings))
    if args.check:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
        if current != text:
            print("openapi/openapi.json differs from the app: run `python main.py openapi`", file=sys.stderr)
            return 1
        return 0
    OPENAPI_PATH.parent.mkdir(exist_ok=True)
    OPENAPI_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {OPENAPI_PATH.relative_to(PROJECT_ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="main.py", description="Talent Island citizen services")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate, seed (demo mode) and serve")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--no-migrate", action="store_true", help="skip migrate and seed (they run as a release step)")
    commands.add_parser("migrate", help="upgrade the database to head")
    commands.add_parser("seed", help="add reference data, and demo data in demo mode")
    openapi = commands.add_parser("openapi", help="write openapi/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the committed spec differs from the app")
    create_admin = commands.add_parser("create-admin", help="create the first administrator")
    create_admin.add_argument("--username", required=True)
    create_admin.add_argument("--name", required=True)
    rotate = commands.add_parser("rotate-keys", help="new signing keys (old ones stay published)")
    rotate.add_argument("--purpose", action="append", choices=["access", "id", "credential"])
    cloud_mock = commands.add_parser("cloud-mock", help="serve the mock government cloud as its own process")
    cloud_mock.add_argument("--host", default="127.0.0.1")
    cloud_mock.add_argument("--port", type=int, default=8900)
    cloud_mock.add_argument("--callback-url", default="http://127.0.0.1:8000", help="where the backend listens")
    cloud_mock.add_argument("--faults", help='JSON, e.g. {"SendSms": {"error_rate": 0.3, "latency_ms": 200}}')
    commands.add_parser("worker", help="drain the outbox and run scheduled jobs")
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.command == "serve":
        _serve(settings, args)
    elif args.command == "migrate":
        _migrate(settings)
        print("database at head")
    elif args.command == "seed":
        ran = _seed(settings)
        print(f"seeded: {', '.join(ran) or 'nothing to seed'}")
    elif args.command == "openapi":
        return _openapi(settings, args)
    elif args.command == "create-admin":
        return _create_admin(settings, args)
    elif args.command == "rotate-keys":
        return _rotate_keys(settings, args)
    elif args.command == "worker":
        return _worker(settings)
    elif args.command == "cloud-mock":
        return _cloud_mock(settings, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
