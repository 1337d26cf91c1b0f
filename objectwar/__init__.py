"""The ObjectWar campaign backend."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, Config, config_for
from objectwar.http import App
from objectwar.sessions import SessionInterface


def create_app(config: str | Config | None = None, **overrides: Any) -> Flask:
    """Build the application: configuration, extensions, blueprints, handlers, commands."""
    if not isinstance(config, Config):
        config = config_for(config)
    app = App(
        __name__,
        instance_path=config.INSTANCE_PATH,
        template_folder=str(BASE_DIR / "templates"),
        static_folder="static",
    )
    app.config.from_object(config)
    app.config.update(overrides)
    app.json.sort_keys = False  # answers keep the order CONTRACT.md gives
    app.session_interface = SessionInterface()

    if app.config.get("PROXY_FIX_HOPS"):
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    register_extensions(app)
    register_blueprints(app)
    register_emails()
    register_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from objectwar import forms, http, i18n, models, ratelimit, security, sessions, tasks  # noqa: F401 (models: for Alembic)
    from objectwar.extensions import babel, csrf, db, login_manager, mail, migrate

    security.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    app.config["MAIL_DEBUG"] = False  # whatever overrides say: see Config.MAIL_DEBUG
    mail.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.babel_locale)
    ratelimit.init_app(app)
    login_manager.init_app(app)
    sessions.init_app(app)
    tasks.init_app(app)
    i18n.init_app(app)
    forms.init_app(app)
    http.init_app(app)

    from objectwar.accounts import services as accounts

    login_manager.user_loader(accounts.load_session_user)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"


def register_emails() -> None:
    """Each domain's composers of notices (``objectwar.mail.notices.composes``)."""
    from objectwar.accounts import emails as _accounts  # noqa: F401
    from objectwar.mailouts import emails as _mailouts  # noqa: F401
    from objectwar.organisations import emails as _organisations  # noqa: F401
    from objectwar.privacy import emails as _privacy  # noqa: F401


def register_blueprints(app: Flask) -> None:
    from objectwar.api import bp as api_bp
    from objectwar.main.views import bp as main_bp
    from objectwar.petitions.views import bp as petitions_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(petitions_bp)
    app.register_blueprint(api_bp)
    # Organisations and accounts.
    from objectwar.accounts.views import bp as accounts_bp
    from objectwar.admin import bp as admin_bp
    from objectwar.organisations.member_views import bp as members_bp
    from objectwar.organisations.views import bp as organisations_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(organisations_bp)
    app.register_blueprint(members_bp)
    app.register_blueprint(admin_bp)

    # -- signing --
    from objectwar.api.signing import bp as api_signing_bp

    app.register_blueprint(api_signing_bp)
    from objectwar.mailing.views import bp as mailing_bp

    app.register_blueprint(mailing_bp)
    from objectwar.privacy.views import bp as privacy_bp

    app.register_blueprint(privacy_bp)
    if app.config.get("DEV_OUTBOX"):
        from objectwar.dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)


def register_handlers(app: Flask) -> None:
    from objectwar.errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from objectwar.cli import register

    register(app)
