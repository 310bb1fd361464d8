"""GitHubOAuthSignIn: GitHub's OAuth web flow for an OAuth app, at the configured GitHub (Enterprise) URL.

The authorize request sends no `redirect_uri`: GitHub returns to the callback URL registered with
the app, so the server's public URL is configured once, at GitHub, and a proxy in front of the
server cannot make it wrong. The scope asked for is `repo`, the one scope that lets a token see
private repositories (OAuth apps have no read-only one); repochat only reads with it.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from application.ports.sessions import GitHubSignIn
from domain.errors import AccessDenied, UpstreamUnavailable

SCOPE = "repo"


class GitHubOAuthSignIn(GitHubSignIn):
    def __init__(self, client: httpx.AsyncClient, web_url: str, client_id: str, client_secret: str) -> None:
        self._client = client
        self._web_url = web_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret

    def authorize_url(self, state: str) -> str:
        query = urlencode({"client_id": self._client_id, "scope": SCOPE, "state": state, "allow_signup": "false"})
        return f"{self._web_url}/login/oauth/authorize?{query}"

    async def exchange(self, code: str) -> str:
        url = f"{self._web_url}/login/oauth/access_token"
        form = {"client_id": self._client_id, "client_secret": self._client_secret, "code": code}
        try:
            response = await self._client.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise UpstreamUnavailable(
                f"GitHub at {self._web_url} could not be reached to sign in ({type(e).__name__})"
            ) from e
        if response.status_code != 200:
            raise UpstreamUnavailable(f"GitHub answered {response.status_code} to the sign-in; try again later")
        try:
            answer = response.json()
        except ValueError as e:
            raise UpstreamUnavailable("GitHub answered the sign-in with something other than JSON") from e
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            reason = answer.get("error_description") or answer.get("error") if isinstance(answer, dict) else None
            raise AccessDenied(f"GitHub refused the sign-in ({reason or 'no token'}): sign in again")
        return str(token)
