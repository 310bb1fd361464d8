"""The people of the fake GitHub: users, their tokens, the private repositories each may read, and an
OAuth app's web flow. `FakeGitHub` serves these routes beside its repository endpoints:

- `GET /user`                          the token's user (401 for an unknown token)
- `GET /user/repos`                     the repositories the user may read by affiliation (owned or granted),
                                        `per_page`/`page`, with a `Link: <...>; rel="next"` header, as GitHub pages
- `GET /login/oauth/authorize`          the user signed in at the fake (`signed_in`) authorizes the app at once:
                                        a redirect to the app's registered callback with `code` and `state`
- `POST /login/oauth/access_token`      a code (once, with the app's id and secret) for the user's token, in
                                        JSON; a bad code is a 200 with `error`, as on GitHub

Access is changeable during a test (`grant`, `revoke`); the repository endpoints ask `may_read`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class FakeUser:
    login: str
    token: str
    private_repositories: set[tuple[str, str]] = field(default_factory=set)
    """(owner, name), lower-cased: the private repositories granted to the user."""


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    callback_url: str = ""
    """Where GitHub sends the browser back (set once the app's server has its port)."""


class GitHubUsers:
    """Users and their tokens; an OAuth app; who is signed in at the fake's web pages."""

    def __init__(self) -> None:
        self.by_token: dict[str, FakeUser] = {}
        self.app: OAuthApp | None = None
        self.signed_in: str | None = None
        """The login the authorize page grants a code for (the browser's GitHub session); None: 404 page."""
        self.authorize_requests: list[dict[str, str]] = []
        self._codes: dict[str, str] = {}

    def add(self, login: str, *private: str) -> str:
        """A new user who may read the private repositories `private` (`owner/name`); its token."""
        token = f"gho_{login}_{secrets.token_hex(8)}"
        self.by_token[token] = FakeUser(login, token)
        for full_name in private:
            self.grant(login, full_name)
        return token

    def user(self, login: str) -> FakeUser:
        return next(user for user in self.by_token.values() if user.login == login)

    def grant(self, login: str, full_name: str) -> None:
        owner, name = full_name.lower().split("/")
        self.user(login).private_repositories.add((owner, name))

    def revoke(self, login: str, full_name: str) -> None:
        owner, name = full_name.lower().split("/")
        self.user(login).private_repositories.discard((owner, name))

    def register_app(self) -> OAuthApp:
        self.app = OAuthApp(f"Iv1.{secrets.token_hex(8)}", secrets.token_hex(20))
        return self.app

    def may_read(self, token: str, owner: str, name: str, private: bool) -> bool:
        """A user's token reads public repositories and its granted private ones."""
        user = self.by_token[token]
        return not private or (owner.lower(), name.lower()) in user.private_repositories

    def routes(self, repositories: Callable[[], list[tuple[str, bool]]]) -> list[Route]:
        """The routes; `repositories` says the fake's repositories as (`owner/name`, private) pairs."""

        async def listing(request: Request) -> Response:
            return self._listing(request, repositories())

        return [
            Route("/user", self._user),
            Route("/user/repos", listing),
            Route("/login/oauth/authorize", self._authorize),
            Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
        ]

    def token_user(self, request: Request) -> FakeUser | Response:
        auth = request.headers.get("authorization", "")
        user = self.by_token.get(auth.removeprefix("Bearer ").removeprefix("token ").strip())
        if user is None:
            return JSONResponse({"message": "Requires authentication" if not auth else "Bad credentials"}, 401)
        return user

    async def _user(self, request: Request) -> Response:
        user = self.token_user(request)
        if isinstance(user, Response):
            return user
        return JSONResponse({"login": user.login, "id": abs(hash(user.login)) % 10**8, "type": "User"})

    def _listing(self, request: Request, repositories: list[tuple[str, bool]]) -> Response:
        """`GET /user/repos`: the user's own repositories and the private ones granted to it, paged."""
        user = self.token_user(request)
        if isinstance(user, Response):
            return user
        owner = user.login.lower() + "/"
        names = sorted(
            (full_name, private)
            for full_name, private in repositories
            if full_name.lower().startswith(owner) or tuple(full_name.lower().split("/")) in user.private_repositories
        )
        per_page = min(int(request.query_params.get("per_page", "30")), 100)
        page = int(request.query_params.get("page", "1"))
        headers = {}
        if page * per_page < len(names):
            query = urlencode({"per_page": per_page, "page": page + 1})
            headers["link"] = f'<{request.url.replace(query=query)}>; rel="next"'
        shown = names[(page - 1) * per_page : page * per_page]
        return JSONResponse([repository_json(name, private) for name, private in shown], headers=headers)

    async def _authorize(self, request: Request) -> Response:
        self.authorize_requests.append(dict(request.query_params))
        app = self.app
        if app is None or request.query_params.get("client_id") != app.client_id or self.signed_in is None:
            return Response("Not Found", 404)
        code = secrets.token_hex(10)
        self._codes[code] = self.signed_in
        query = urlencode({"code": code, "state": request.query_params.get("state", "")})
        return RedirectResponse(f"{app.callback_url}?{query}", 302)

    async def _access_token(self, request: Request) -> Response:
        form = await request.form()
        app = self.app
        if app is None or form.get("client_id") != app.client_id or form.get("client_secret") != app.client_secret:
            return JSONResponse({"error": "incorrect_client_credentials", "error_description": "bad client"})
        login = self._codes.pop(str(form.get("code", "")), None)
        if login is None:
            return JSONResponse({"error": "bad_verification_code", "error_description": "The code is wrong."})
        return JSONResponse({"access_token": self.user(login).token, "token_type": "bearer", "scope": "repo"})


def repository_json(full_name: str, private: bool) -> dict[str, object]:
    """The fields of GitHub's repository object repochat reads."""
    return {"full_name": full_name, "private": private, "visibility": "private" if private else "public"}
