"""Single sign-on to the console by OpenID Connect, beside the local users.

``/login/oidc`` sends the browser to the provider (authorization code flow with
state, nonce and PKCE S256); ``/login/oidc/callback`` takes the code back, checks
the ID token with authlib (signature against the provider's JWKS, issuer,
audience, expiry, nonce), maps the user's ``role_claim`` values to a console role
(the highest wins) and starts a console session as a password login does.

The pending logins (state, nonce, PKCE verifier, next page) are kept in memory,
keyed by a random token in a cookie, and used once: a callback whose cookie or
state does not match one is refused. A restart forgets them; the user starts
again. The provider's answers come over the server's own requests, never
through the browser, except the one-time code.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from markupsafe import escape

from robotlib.console._accounts import Role
from robotlib.console._masking import shown_text
from robotlib.console._pages import TEMPLATES, error_page
from robotlib.console._security import (
    SESSION_COOKIE,
    client_address,
    console_of,
    safe_next,
    set_cookie,
)
from robotlib.errors import CredentialsError
from robotlib.settings import OidcSettings

__all__ = ["OIDC_COOKIE", "add_oidc_routes"]

#: The cookie naming the browser's pending login; SameSite=Lax, as the callback
#: comes as a top-level navigation from the provider's site.
OIDC_COOKIE = "rpa_console_oidc"
#: How long a pending login waits for the provider's callback.
PENDING_FOR_S = 600.0
_COOKIE_PATH = "/login/oidc"
#: The error codes of OAuth 2.0 and OpenID Connect authorization answers: a page
#: names one of these, never a text from the URL.
_ERROR_CODES = frozenset(
    {
        *("access_denied", "invalid_request", "invalid_scope", "server_error"),
        *("temporarily_unavailable", "unauthorized_client"),
        *("unsupported_response_type", "login_required", "consent_required"),
        *("interaction_required", "account_selection_required"),
    }
)


class ProviderError(Exception):
    """The provider could not be reached, or answered what OIDC does not allow."""


@dataclass(frozen=True)
class _Pending:
    state: str
    nonce: str
    verifier: str
    next: str
    redirect_uri: str
    started: float


class OidcLogin:
    """One console's OIDC client: its settings, the provider's metadata and keys,
    and the pending logins."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, Any] | None = None

    # Public API ----------------------------------------------------------------------

    def begin(self, next: str, redirect_uri: str) -> tuple[str, str]:
        """Start a login; return the cookie's token and the provider's URL."""
        metadata = self.metadata()
        pending = _Pending(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),
            next=safe_next(next),
            redirect_uri=redirect_uri,
            started=time.monotonic(),
        )
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sweep()
            self._pending[token] = pending
        url = add_params_to_uri(
            metadata["authorization_endpoint"],
            [
                ("response_type", "code"),
                ("client_id", self.settings.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", " ".join(self.settings.scopes)),
                ("state", pending.state),
                ("nonce", pending.nonce),
                ("code_challenge", create_s256_code_challenge(pending.verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return token, url

    def take(self, token: str, state: str) -> _Pending | None:
        """The pending login of the cookie's token if ``state`` is its; used once."""
        with self._lock:
            pending = self._pending.pop(token, None) if token else None
        if pending is None or time.monotonic() - pending.started > PENDING_FOR_S:
            return None
        if not state or not hmac.compare_digest(state, pending.state):
            return None
        return pending

    def claims(self, pending: _Pending, code: str, secret: str) -> dict[str, Any]:
        """Redeem the code and return the checked ID token's claims.

        Raises:
            ProviderError: the provider refused the code, or the ID token fails a
                check (signature, issuer, audience, expiry, nonce).
        """
        metadata = self.metadata()
        answer = self._post(
            metadata["token_endpoint"],
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.verifier,
            },
            secret,
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("the provider's token answer holds no ID token")
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"])
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), registry=registry)
            except InvalidKeyIdError:  # the provider rolled its keys
                decoded = jwt.decode(
                    id_token, self._key_set(refresh=True), registry=registry
                )
            checked = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                },
                {
                    "nonce": pending.nonce,
                    "client_id": self.settings.client_id,
                    "access_token": answer.get("access_token"),
                },
            )
            checked.validate(leeway=60)
        except (JoseError, ValueError) as exc:
            raise ProviderError(f"the ID token was refused: {exc}") from exc
        return dict(checked)

    def role(self, claims: dict[str, Any]) -> Role | None:
        """The highest role the user's ``role_claim`` values map to, or None."""
        found = [
            Role(self.settings.roles[value])
            for value in self.values(claims)
            if value in self.settings.roles
        ]
        return max(found, key=lambda role: role.rank) if found else None

    def values(self, claims: dict[str, Any]) -> list[str]:
        """The user's ``role_claim`` values (a single string counts as one)."""
        value = claims.get(self.settings.role_claim)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(item) for item in value]
        return []

    def name(self, claims: dict[str, Any]) -> str:
        """The console user name: ``name_claim``, else ``sub``."""
        return str(claims.get(self.settings.name_claim) or claims.get("sub") or "")

    def shown_name(self, claims: dict[str, Any]) -> str:
        """The name for a page or the audit: at most 100 characters, CPR masked
        (a provider may use a CPR number as the user's name)."""
        return shown_text(self.name(claims)[:100], clear=False) or "(blank)"

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once, its issuer checked)."""
        if self._metadata is None:
            found = self._get(f"{self.issuer}/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                raise ProviderError(
                    f"the discovery document names issuer {found.get('issuer')!r}, "
                    f"not {self.issuer!r}"
                )
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise ProviderError(f"the discovery document has no {key}")
            self._metadata = found
        return self._metadata

    # Private API ---------------------------------------------------------------------

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = self._get(self.metadata()["jwks_uri"])
        return KeySet.import_key_set(self._keys)  # type: ignore[arg-type]

    def _sweep(self) -> None:
        now = time.monotonic()
        for token in [
            t for t, p in self._pending.items() if now - p.started > PENDING_FOR_S
        ]:
            del self._pending[token]

    def _get(self, url: str) -> dict[str, Any]:
        return self._send(urllib.request.Request(url))

    def _post(self, url: str, form: dict[str, str], secret: str) -> dict[str, Any]:
        basic = f"{quote(self.settings.client_id, safe='')}:{quote(secret, safe='')}"
        request = urllib.request.Request(
            url,
            data=urlencode(form).encode("ascii"),
            headers={
                "Authorization": "Basic "
                + base64.b64encode(basic.encode("utf-8")).decode("ascii"),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        if not request.full_url.startswith(("https://", "http://")):
            raise ProviderError(f"not an http(s) URL: {request.full_url}")
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(
                request, timeout=self.settings.timeout_s
            ) as response:
                found = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ProviderError(
                f"{request.full_url} answered HTTP {exc.code}: "
                f"{exc.read(500).decode('utf-8', 'replace')}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ProviderError(f"{request.full_url} could not be read: {exc}") from exc
        if not isinstance(found, dict):
            raise ProviderError(f"{request.full_url} did not answer a JSON object")
        return found


def add_oidc_routes(app: FastAPI) -> None:
    """Add ``/login/oidc`` and its callback when ``[console.oidc]`` is set.

    The login page shows "Sign in with <label>" through the ``oidc_label``
    template global, which reads this app's settings.
    """
    TEMPLATES.env.globals["oidc_label"] = _label
    settings: OidcSettings | None = app.state.console.project.settings.console.oidc
    app.state.oidc = None if settings is None else OidcLogin(settings)
    if settings is None:
        return

    @app.get("/login/oidc")
    def oidc_start(request: Request, next: str = "/") -> Response:
        login: OidcLogin = request.app.state.oidc
        redirect_uri = login.settings.redirect_url or str(
            request.url_for("oidc_callback")
        )
        try:
            token, url = login.begin(next, redirect_uri)
        except ProviderError as exc:
            return error_page(
                request, "Sign-in unavailable", _unreachable(login, exc), 502
            )
        response = RedirectResponse(url, status_code=303)
        set_cookie(
            request, response, OIDC_COOKIE, token, path=_COOKIE_PATH, samesite="lax"
        )
        return response

    @app.get("/login/oidc/callback", name="oidc_callback")
    def oidc_callback(
        request: Request,
        code: str = "",
        state: str = "",
        error: str = "",
    ) -> Response:
        console = console_of(request)
        login: OidcLogin = request.app.state.oidc
        label = login.settings.label
        pending = login.take(request.cookies.get(OIDC_COOKIE, ""), state)
        if error or not code:
            # The error code only, never its description: no link may put its
            # words on a console page. Some providers drop the state here; an
            # error starts no session, so it needs no pending sign-in.
            said = error if error in _ERROR_CODES else "no code"
            response = error_page(
                request,
                "Sign-in cancelled",
                f"{label} did not sign you in ({said}). "
                "Go back to the login page and try again.",
                400,
            )
            response.delete_cookie(OIDC_COOKIE, path=_COOKIE_PATH)
            return response
        if pending is None:
            response = error_page(
                request,
                "Sign-in refused",
                "This sign-in was not started from this browser, is older than "
                f"{int(PENDING_FOR_S // 60)} minutes or was used already. "
                f"Go back to the login page and sign in with {label} again.",
                400,
            )
            response.delete_cookie(OIDC_COOKIE, path=_COOKIE_PATH)
            return response
        address = client_address(request)
        try:
            secret = _client_secret(request, login)
            claims = login.claims(pending, code, secret)
        except (ProviderError, CredentialsError) as exc:
            return error_page(request, "Sign-in failed", _unreachable(login, exc), 502)
        name, shown = login.name(claims), login.shown_name(claims)
        role = login.role(claims)
        if role is None:
            groups = shown_text(", ".join(login.values(claims)), clear=False)
            groups = groups or "(none)"
            console.project.backend.record_audit(
                actor=shown,
                action="login_refused",
                note=f"via oidc from {address}: no role for "
                f"{login.settings.role_claim} {groups}",
            )
            return error_page(
                request,
                "No role in this console",
                f"You are signed in at {label} as {shown}, but none of your "
                f"{login.settings.role_claim} gives a role in this console "
                f"({login.settings.role_claim}: {groups}). Ask an admin to add one "
                "of them to [console.oidc.roles] in rpa.toml.",
                403,
            )
        try:
            token, _session = console.accounts.start_external_session(
                name, role, via="oidc"
            )
        except ValueError as exc:
            console.project.backend.record_audit(
                actor=shown,
                action="login_refused",
                note=f"via oidc from {address}: {shown_text(str(exc), clear=False)}",
            )
            return error_page(
                request,
                "Sign-in refused",
                f"You are signed in at {label} as {shown}, but this console cannot "
                f"take that user: {shown_text(str(exc), clear=False)}.",
                403,
            )
        console.project.backend.record_audit(
            actor=name, action="login", note=f"via oidc from {address}"
        )
        response = _continue(pending.next)
        set_cookie(request, response, SESSION_COOKIE, token, path="/")
        response.delete_cookie(OIDC_COOKIE, path=_COOKIE_PATH)
        return response


def _label(request: Request) -> str | None:
    """The login button's provider label, or None when this app has no OIDC."""
    login: OidcLogin | None = getattr(request.app.state, "oidc", None)
    return None if login is None else login.settings.label


def _client_secret(request: Request, login: OidcLogin) -> str:
    system = login.settings.credentials_system
    password = console_of(request).project.credentials().get(system).password
    if password is None:
        raise CredentialsError(
            f"the credentials of {system!r} hold no password (the client secret)"
        )
    return password.get_secret_value()


def _unreachable(login: OidcLogin, exc: Exception) -> str:
    return (
        f"The console could not complete the sign-in with {login.settings.label}: "
        f"{exc}. Log in with a console user name and password, or tell an admin."
    )


def _continue(target: str) -> HTMLResponse:
    """A page that goes on to ``target`` from this site.

    The callback arrives by a redirect from the provider's site, and a browser
    then holds back SameSite=Strict cookies for the rest of that redirect chain;
    a navigation started by this page sends the new session cookie.
    """
    shown = escape(target)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={shown}">'
        "<title>Signed in · robotlib</title></head><body>"
        f'<p>Signed in. <a href="{shown}">Continue</a></p></body></html>'
    )
