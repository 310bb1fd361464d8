"""The web chat page at `/`, in a real browser: Debian's chromium driven by Playwright for Python,
against `repochat serve` on loopback.

Most tests share one server whose answers come from the OpenAI-shaped fake, streaming its reply
a token at a time with a pause between tokens (`PacedStreams`), so the page really receives
tokens over time, and whose GitHub is the GitHub-shaped fake (a repository indexed at two refs).
The API-key test starts its own server with REPOCHAT_API_KEYS and the extractive answerer.
chromium comes from apt (scripts/install-browser.sh); without it the tests skip, or fail when
CI=true. On failure each test saves a screenshot and prints its path.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, Request, expect, sync_playwright
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.integration.fake_github import FakeGitHub, GitRepo
from tests.integration.fake_openai import FakeOpenAI, server_error, slow
from tests.integration.helpers import ApiServer, ServeFactory, free_port, repochat_env, stop, unavailable, wait_for_http

pytestmark = pytest.mark.timeout(240)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "sk-test-web-0123456789"
PACE_SECONDS = 0.08
QUESTION = "How do I set the timeout option?"
FOLLOW_UP = "And where does the client read it?"
REPLY = (
    "Set `timeout` in **widgets.toml** [1]; it defaults to `None`, so the client waits forever [2].\n\n"
    "```toml\n[client]\ntimeout = 5\n```\n\n"
    'The client reads it when it connects [2]. <img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
    "![tracker](http://127.0.0.1:9/pixel.png)"
)
WIDGETS = {
    "docs/config.md": (
        "# Configuration\n\n## timeout\n\nThe timeout option defaults to None, so the client waits forever.\n"
        "Set the timeout option in widgets.toml:\n\n```toml\n[client]\ntimeout = 5\n```\n\n"
        'Markup in a passage stays text: <b onmouseover="window.pwned=1">bold</b>\n'
    ),
    "docs/install.md": "# Install\n\nInstall widgets with pip install widgets.\n",
    "src/widgets/client.py": 'def connect(timeout=None):\n    """Reads the timeout option when it connects."""\n',
}
GUIDES = {"guide/start.md": "# Getting started\n\nCreate a widget.\n", "guide/faq.md": "# FAQ\n\nWidgets are small.\n"}
ACME = "acme/widgets"
SETUP_AT = {
    "v1": "# Setup\n\nInstall the widget with easy_install, then call configure_widget() once.\n",
    "main": "# Setup\n\nInstall the widget with pip, then call configure_widget() once.\n",
}
INSTALL_QUESTION = "How do I install the widget?"


class PacedStreams:
    """ASGI middleware for the OpenAI fake: each chunk of a streamed body goes out `PACE_SECONDS` after the last."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def paced(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and message.get("more_body"):
                await asyncio.sleep(PACE_SECONDS)

        await self.app(scope, receive, paced)


def write_folder(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root.resolve()


# -- the browser


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One chromium for the module, with a fresh profile; each test opens its own page (its own sessionStorage)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run scripts/install-browser.sh"
        unavailable(message)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A new tab; a screenshot of it is saved (and its path printed) when the test fails."""
    tab = browser_context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: errors.extend(_console_error(message)))
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:  # the call phase is reported before teardown
        shot = tmp_path / "failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the page: {shot}; page errors: {errors}")
    tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _console_error(message: ConsoleMessage) -> list[str]:
    """A console error other than the browser's note of an HTTP error status (which the page shows itself)."""
    if message.type != "error" or message.text.startswith("Failed to load resource"):
        return []
    return [message.text]


# -- the shared server


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(api_key=KEY, reply=REPLY, dimensions=64)
    server.app.add_middleware(PacedStreams)
    with server:
        yield server


@pytest.fixture(autouse=True)
def fresh(request: pytest.FixtureRequest) -> Iterator[None]:
    """No pending faults or recorded requests carry over from one test to the next."""
    if "fake" not in request.fixturenames:
        yield
        return
    fake: FakeOpenAI = request.getfixturevalue("fake")
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web-folders")
    write_folder(root / "widgets", WIDGETS)
    write_folder(root / "guides", GUIDES)
    write_folder(root / "bulk", {f"notes/{i}.md": f"# Note {i}\n\nWidget note number {i}.\n" for i in range(5)})
    return root.resolve()


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    """The GitHub-shaped fake with `acme/widgets`: tag v1, then a commit on main changing docs/setup.md."""
    with FakeGitHub(tmp_path_factory.mktemp("web-github")) as gh:
        repo = gh.create_repo("acme", "widgets", {"docs/setup.md": SETUP_AT["v1"]})
        repo.tag("v1")
        repo.commit("pip", {"docs/setup.md": SETUP_AT["main"]})
        yield gh


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, folders: Path, github: FakeGitHub) -> Iterator[ApiServer]:
    env = repochat_env(
        folders / "data",
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=fake.base_url,
        REPOCHAT_EMBEDDINGS="openai",
        REPOCHAT_LLM="openai",
        REPOCHAT_LOCAL_ROOTS=str(folders),
        REPOCHAT_GITHUB_API_URL=github.api_url,
    )
    api = ApiServer(env, folders / "serve.log", cwd=folders)
    try:
        yield api.wait_ready("/readyz", timeout=120)
    finally:
        api.close()


@pytest.fixture(scope="module")
def widgets(server: ApiServer, folders: Path) -> str:
    """The widgets folder, indexed through the API; its repository id."""
    accepted = server.client.post("/v1/repositories", json={"source": str(folders / "widgets")})
    assert accepted.status_code == 202, accepted.text
    job = server.wait_for_job(accepted.json()["job_id"], timeout=60)
    assert job["state"] == "succeeded", job
    return str(accepted.json()["repository"])


@pytest.fixture
def acme(server: ApiServer, github: FakeGitHub) -> GitRepo:
    """`acme/widgets` indexed at its default branch and at v1 (again, if a test forgot one); its git repository."""
    for body in ({"source": ACME}, {"source": ACME, "ref": "v1"}):
        accepted = server.client.post("/v1/repositories", json=body)
        assert accepted.status_code == 202, accepted.text
        assert server.wait_for_job(accepted.json()["job_id"], timeout=60)["state"] == "succeeded"
    return github.hosted("acme", "widgets").git


def acme_refs(server: ApiServer) -> list[tuple[str | None, str, bool]]:
    """The refs of `acme/widgets` GET /v1/repositories lists: (ref, commit, searched_by_default)."""
    listed = server.client.get("/v1/repositories").json()["repositories"]
    return sorted(((r["ref"], r["commit"], r["searched_by_default"]) for r in listed if r["id"] == ACME), key=str)


def install_tool_of_the_passage(body: dict[str, object]) -> str:
    """The fake model's reply: which install tool the setup passage it was given names."""
    prompt = json.dumps(body["messages"])
    tools = [tool for tool in ("easy_install", "pip") if f"Install the widget with {tool}" in prompt]
    return f"Install it with `{' and '.join(tools) or 'nothing'}` [1]."


@pytest.fixture
def model_quoting_the_setup(fake: FakeOpenAI) -> Iterator[None]:
    fake.reply = install_tool_of_the_passage
    yield
    fake.reply = REPLY


def open_page(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.get_by_role("heading", name="repochat")).to_be_visible()


def watch(page: Page, selector: str) -> None:
    """Record `window.seen`: the text of the last `selector` element and when, at each change of the page."""
    page.evaluate(
        """(selector) => {
            window.seen = [];
            new MutationObserver(() => {
                const all = document.querySelectorAll(selector);
                const text = all.length ? all[all.length - 1].textContent : "";
                if (text && text !== window.seen.at(-1)?.text) window.seen.push({ text, at: performance.now() });
            }).observe(document.body, { childList: true, subtree: true, characterData: true });
        }""",
        selector,
    )


def ask(page: Page, question: str) -> Request:
    """Type `question`, send it with Enter, and wait for the answer to finish; the request the page sent."""
    with page.expect_request(lambda r: r.url.endswith("/v1/ask")) as sent:
        page.get_by_label("Your question").fill(question)
        page.get_by_label("Your question").press("Enter")
    expect(page.locator(".answer").last).to_have_attribute("aria-busy", "false", timeout=60_000)
    return sent.value


# -- the page and its wiring


def test_page_and_its_files_are_served_and_api_404s_stay_json(server: ApiServer) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for script in re.findall(r'src="([^"]+)"', page.text):
        assert not script.startswith(("http:", "https:", "//")), "nothing may come from a CDN"
        asset = httpx.get(f"{server.url}/{script}")
        assert asset.status_code == 200, script
        assert "javascript" in asset.headers["content-type"]
    assert httpx.get(server.url + "/static/style.css").headers["content-type"].startswith("text/css")

    missing = httpx.get(server.url + "/v1/nope")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"code", "message"}
    assert httpx.get(server.url + "/static/nope.js").status_code == 404
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]


def test_the_page_carries_its_security_headers_and_cannot_be_framed(
    browser_context: BrowserContext, server: ApiServer, tmp_path: Path
) -> None:
    """Another site's page that frames the chat page gets an empty frame (frame-ancestors 'none')."""
    headers = httpx.get(server.url + "/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert (headers["x-content-type-options"], headers["referrer-policy"]) == ("nosniff", "no-referrer")

    (tmp_path / "framing.html").write_text(f'<iframe src="{server.url}/" width="600" height="400"></iframe>')
    other_site = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port := free_port()), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    tab = browser_context.new_page()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/framing.html", other_site)
        tab.goto(f"http://127.0.0.1:{port}/framing.html")
        tab.wait_for_timeout(1000)
        framed = [frame for frame in tab.frames if frame != tab.main_frame]
        assert [frame.url for frame in framed] == ["chrome-error://chromewebdata/"]  # the browser refused it
    finally:
        tab.close()
        stop(other_site)


# -- indexing


def test_indexing_a_folder_shows_its_progress_until_done(page: Page, server: ApiServer, folders: Path) -> None:
    open_page(page, server.url)
    watch(page, ".job .job-status")

    page.get_by_label("GitHub repository or folder on the server").fill(str(folders / "guides"))
    page.get_by_role("button", name="Index", exact=True).click()

    job = page.locator(".job").filter(has_text=str(folders / "guides"))
    expect(job.locator(".job-status")).to_have_text(
        "Done: 2 files indexed, 0 unchanged, 0 deleted, 2 chunks written.", timeout=60_000
    )
    statuses = [s["text"] for s in page.evaluate("window.seen")]
    assert statuses[0].startswith(("queued", "running")), statuses
    expect(job.get_by_role("button", name=re.compile("Cancel"))).to_be_hidden()

    [listed] = [
        r for r in server.client.get("/v1/repositories").json()["repositories"] if r["source"].endswith("guides")
    ]
    entry = page.locator(".repository").filter(has_text=listed["id"])
    expect(entry).to_contain_text(f"commit {listed['commit'][:7]} · 2 files · 2 chunks · indexed")
    expect(page.get_by_label("Search in").locator("option", has_text=listed["id"])).to_have_count(1)

    entry.get_by_role("button", name=f"Re-sync {listed['id']}").click()
    expect(page.locator(".job").first.locator(".job-status")).to_have_text(
        "Done: 0 files indexed, 2 unchanged, 0 deleted, 0 chunks written.", timeout=60_000
    )
    expect(page.locator(".job")).to_have_count(2)


def test_a_job_cancelled_from_the_page_shows_cancelled(
    page: Page, server: ApiServer, fake: FakeOpenAI, folders: Path
) -> None:
    fake.fail_next(1, slow(60), path="/v1/embeddings")  # the job waits on its first embedding call
    open_page(page, server.url)

    page.get_by_label("GitHub repository or folder on the server").fill(str(folders / "bulk"))
    page.get_by_role("button", name="Index", exact=True).click()
    job = page.locator(".job").filter(has_text=str(folders / "bulk"))
    expect(job.locator(".job-status")).to_contain_text("running", timeout=60_000)
    job.get_by_role("button", name=re.compile("Cancel indexing")).click()

    expect(job.locator(".job-status")).to_have_text("Cancelled.")
    expect(job).to_have_attribute("data-state", "cancelled")
    listed = server.client.get("/v1/jobs").json()["jobs"]
    assert [j["state"] for j in listed if j["repository"].endswith("bulk")] == ["cancelled"]


def test_a_bad_source_shows_the_servers_message(page: Page, server: ApiServer) -> None:
    refused = server.client.post("/v1/repositories", json={"source": "https://gitlab.com/a/b"})
    assert refused.status_code == 400
    open_page(page, server.url)

    page.get_by_label("GitHub repository or folder on the server").fill("https://gitlab.com/a/b")
    page.get_by_label("GitHub repository or folder on the server").press("Enter")

    expect(page.locator("#index-error")).to_have_text(refused.json()["error"]["message"])
    expect(page.locator(".job")).to_have_count(0)


# -- chatting


def test_the_answer_streams_in_with_citations_and_no_injected_markup(
    page: Page, server: ApiServer, widgets: str
) -> None:
    open_page(page, server.url)
    page.get_by_label("Search in").select_option(label=widgets)
    watch(page, ".answer .markdown")

    sent = ask(page, QUESTION)

    assert sent.post_data_json["filters"] == {"repository": widgets}
    seen = page.evaluate("window.seen")
    assert len(seen) >= 5, seen  # the text grew token by token, not in one piece
    assert seen[-1]["at"] - seen[0]["at"] > 5 * PACE_SECONDS * 1000 * 0.5
    answer = page.locator(".answer").last
    expect(answer.locator(".markdown")).to_contain_text("Set timeout in widgets.toml")
    expect(answer.locator("pre code")).to_have_text("[client]\ntimeout = 5\n")
    expect(answer.locator("strong")).to_have_text("widgets.toml")
    expect(answer.get_by_role("button", name=re.compile(r"^Source \[1\]"))).to_have_count(1)
    expect(answer.get_by_role("button", name=re.compile(r"^Source \[2\]"))).to_have_count(2)
    expect(answer.locator(".sources li").first).to_contain_text("[1] ")
    expect(answer.locator(".note")).to_have_count(0)  # a generated answer with sources: no notice
    expect(answer.locator(".markdown")).to_contain_text('<img src=x onerror="window.pwned=1"><script>')  # as text
    assert answer.locator("img, script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_citation_opens_its_lines_and_permalink(page: Page, server: ApiServer, widgets: str) -> None:
    expected = server.client.post("/v1/ask", json={"question": QUESTION, "filters": {"repository": widgets}}).json()
    first = expected["citations"][0]
    assert first["path"] == "docs/config.md"  # the fake's hashed vectors share its words with the question
    open_page(page, server.url)
    page.get_by_label("Search in").select_option(label=widgets)
    ask(page, QUESTION)

    page.locator(".answer").last.get_by_role("button", name=re.compile(r"^Source \[1\]")).click()

    dialog = page.locator("#citation-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text(f"[1] {first['path']}")
    expect(dialog).to_contain_text(f"lines {first['start_line']}–{first['end_line']}")
    numbers = dialog.locator(".line-number").all_text_contents()
    assert numbers == [str(n) for n in range(first["start_line"], first["start_line"] + len(numbers))]
    assert dialog.locator(".line").count() == len(first["text"].split("\n"))
    link = dialog.get_by_role("link")
    expect(link).to_have_attribute("href", first["url"])
    assert re.fullmatch(rf"file://.*/widgets/{first['path']}#L{first['start_line']}-L{first['end_line']}", first["url"])
    expect(dialog.locator("code")).to_contain_text('<b onmouseover="window.pwned=1">bold</b>')

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.pwned") is None


def misplaced_and_invented(body: dict[str, object]) -> str:
    """The fake model's reply: a correct citation, the install command cited to the client's code, and [9]."""
    prompt = "\n".join(str(m["content"]) for m in body["messages"])  # type: ignore[attr-defined]
    numbers = {path: n for n, path in re.findall(r"^\[(\d+)\] \S+:(\S+) lines", prompt, re.MULTILINE)}
    return (
        f"The timeout option defaults to `None` [{numbers['docs/config.md']}]. "
        f"Install it with `pip install widgets` [{numbers['src/widgets/client.py']}]. It is fast [9]."
    )


@pytest.fixture
def model_citing_wrongly(fake: FakeOpenAI) -> Iterator[None]:
    fake.reply = misplaced_and_invented
    yield
    fake.reply = REPLY


@pytest.mark.usefixtures("model_citing_wrongly")
def test_an_unsupported_citation_is_marked_with_its_reason(page: Page, server: ApiServer, widgets: str) -> None:
    open_page(page, server.url)
    page.get_by_label("Search in").select_option(label=widgets)

    ask(page, "How do I install widgets and set the timeout?")

    answer = page.locator(".answer").last
    unsupported = answer.locator(".markdown button.cite.unsupported")
    expect(unsupported).to_have_count(1)
    expect(unsupported).to_have_attribute("title", re.compile(r"^Unsupported: `pip`, `install`, `widgets` are not in"))
    expect(unsupported).to_have_accessible_name(re.compile(r"^Source \[\d\], unsupported \("))
    expect(answer.locator(".markdown button.cite:not(.unsupported)")).to_have_count(1)
    invented = answer.locator(".markdown span.cite.unsupported")
    expect(invented).to_have_text("[9]")
    expect(invented).to_have_attribute("title", "Unsupported: [9] is not a passage of this answer")
    expect(answer.locator(".note")).to_have_text(
        "2 of 3 citations are not supported by the passage they cite (marked)."
    )
    listed = answer.locator(".sources li.unsupported")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("client.py")
    expect(listed).to_contain_text("unsupported: `pip`")
    color = unsupported.evaluate("(node) => getComputedStyle(node).borderTopStyle")
    assert color == "dashed"  # the stylesheet marks it: no inline style is allowed by the page's CSP


@pytest.mark.usefixtures("widgets")
def test_a_follow_up_question_sends_the_history(page: Page, server: ApiServer, fake: FakeOpenAI) -> None:
    open_page(page, server.url)
    first = ask(page, QUESTION)
    follow_up = ask(page, FOLLOW_UP)

    assert first.post_data_json["history"] == []
    assert follow_up.post_data_json["history"] == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": REPLY},
    ]
    expect(page.locator(".turn")).to_have_count(2)
    messages = fake.chat_requests[-1].body["messages"]
    assert [m["content"] for m in messages[1:]] == [QUESTION, REPLY, FOLLOW_UP]

    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".turn")).to_have_count(0)
    assert ask(page, QUESTION).post_data_json["history"] == []


@pytest.mark.usefixtures("widgets")
def test_an_upstream_failure_shows_its_message(page: Page, server: ApiServer, fake: FakeOpenAI) -> None:
    fake.fail_next(100, server_error(500), path="/v1/chat/completions")
    refused = server.client.post("/v1/ask", json={"question": QUESTION})
    assert refused.status_code == 503, refused.text
    open_page(page, server.url)

    ask(page, QUESTION)

    expect(page.locator(".answer .error")).to_have_text(refused.json()["error"]["message"])


def test_the_page_fits_a_narrow_screen_in_dark_mode_and_works_by_keyboard(
    page: Page, server: ApiServer, widgets: str
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    page.emulate_media(color_scheme="dark")
    open_page(page, server.url)
    expect(page.locator(".repository").filter(has_text=widgets)).to_be_visible()

    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(c) for c in re.findall(r"\d+", background)[:3]) < 3 * 64, background
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_label("Search in").focus()
    page.keyboard.press("Tab")  # to "New chat"
    page.keyboard.press("Tab")
    expect(page.get_by_label("Your question")).to_be_focused()
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    answer = page.locator(".answer").last
    expect(answer).to_have_attribute("aria-busy", "false", timeout=60_000)
    answer.get_by_role("button", name=re.compile(r"^Source \[1\]")).first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#citation-dialog")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.keyboard.press("Escape")
    expect(page.locator("#citation-dialog")).to_be_hidden()


# -- refs side by side


def acme_entry(page: Page, name: str) -> Locator:
    """The repository entry whose title is exactly `name`."""
    return page.locator(".repository").filter(has=page.locator("strong").get_by_text(name, exact=True))


def test_each_ref_of_a_repository_is_an_entry_showing_its_ref(page: Page, server: ApiServer, acme: GitRepo) -> None:
    open_page(page, server.url)

    expect(page.locator(".repository").filter(has_text=ACME)).to_have_count(2)
    expect(acme_entry(page, ACME).locator("p")).to_contain_text(
        f"default branch · commit {acme.head('main')[:7]} · 1 files · 1 chunks · indexed"
    )
    expect(acme_entry(page, f"{ACME} @ v1").locator("p")).to_contain_text(
        f"v1 · commit {acme.head('v1')[:7]} · 1 files · 1 chunks · indexed"
    )
    options = page.get_by_label("Search in").locator("option").all_text_contents()
    assert [o for o in options if o.startswith(ACME)] == [ACME, f"{ACME} @ v1"]


@pytest.mark.usefixtures("model_quoting_the_setup")
def test_asking_in_a_ref_entry_answers_from_that_ref(page: Page, server: ApiServer, acme: GitRepo) -> None:
    open_page(page, server.url)
    cases = [(f"{ACME} @ v1", {"repository": ACME, "ref": "v1"}, "v1", "easy_install")]
    cases.append((ACME, {"repository": ACME}, "main", "pip"))  # the default branch is what naming no ref reads
    for label, filters, ref, tool in cases:
        page.get_by_role("button", name="New chat").click()  # no history: no rewritten query
        page.get_by_label("Search in").select_option(label=label)

        sent = ask(page, INSTALL_QUESTION)

        assert sent.post_data_json["filters"] == filters, label
        answer = page.locator(".answer").last
        expect(answer.locator(".markdown")).to_have_text(f"Install it with {tool} [1].")
        expect(answer.locator(".sources li")).to_have_count(1)
        answer.get_by_role("button", name=re.compile(r"^Source \[1\]")).click()
        dialog = page.locator("#citation-dialog")
        expect(dialog).to_contain_text(f"{ACME} · commit {acme.head(ref)[:7]} · lines")
        expect(dialog.locator("code")).to_contain_text(f"Install the widget with {tool}, then")
        expect(dialog.get_by_role("link")).to_have_attribute("href", re.compile(acme.head(ref)))
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()


def forget_from_the_page(page: Page, name: str) -> dict[str, list[str]]:
    """Click "Forget" on the entry `name` and confirm; the query of the DELETE the page sent."""
    page.once("dialog", lambda confirm: confirm.accept())
    with page.expect_request(lambda r: r.method == "DELETE") as sent:
        page.get_by_role("button", name=f"Forget {name}", exact=True).click()
    return parse_qs(urlsplit(sent.value.url).query)


def test_forgetting_the_v1_entry_leaves_the_default_branch(page: Page, server: ApiServer, acme: GitRepo) -> None:
    open_page(page, server.url)

    assert forget_from_the_page(page, f"{ACME} @ v1") == {"collection": ["default"], "ref": ["v1"]}

    expect(acme_entry(page, f"{ACME} @ v1")).to_have_count(0)
    expect(acme_entry(page, ACME)).to_contain_text(f"default branch · commit {acme.head('main')[:7]}")
    expect(page.get_by_label("Search in").locator("option", has_text=ACME)).to_have_count(1)
    assert acme_refs(server) == [(None, acme.head("main"), True)]


def test_forgetting_the_default_branch_entry_leaves_v1(page: Page, server: ApiServer, acme: GitRepo) -> None:
    open_page(page, server.url)

    assert forget_from_the_page(page, ACME) == {"collection": ["default"], "ref": ["HEAD"]}

    expect(acme_entry(page, ACME)).to_have_count(0)
    expect(acme_entry(page, f"{ACME} @ v1")).to_contain_text(f"v1 · commit {acme.head('v1')[:7]}")
    assert acme_refs(server) == [("v1", acme.head("v1"), True)]


# -- API keys


def test_the_page_asks_for_an_api_key_and_sends_it(page: Page, serve: ServeFactory, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "widgets", WIDGETS)
    api = serve(REPOCHAT_API_KEYS="right-key", REPOCHAT_LOCAL_ROOTS=str(folder))
    accepted = api.client.post(
        "/v1/repositories", json={"source": str(folder)}, headers={"authorization": "Bearer right-key"}
    )
    assert accepted.status_code == 202, accepted.text
    api.client.headers["authorization"] = "Bearer right-key"
    assert api.wait_for_job(accepted.json()["job_id"])["state"] == "succeeded"
    page.goto(api.url + "/")

    dialog = page.get_by_role("dialog", name="API key needed")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("asks for an API key")
    page.get_by_label("API key", exact=True).fill("wrong-key")
    page.get_by_label("API key", exact=True).press("Enter")
    refused = httpx.get(api.url + "/v1/repositories", headers={"authorization": "Bearer wrong-key"})
    assert refused.status_code == 403
    expect(dialog).to_contain_text(f"The server refused that key: {refused.json()['error']['message']}")
    page.get_by_label("API key", exact=True).fill("right-key")
    page.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_hidden()

    expect(page.locator(".repository")).to_contain_text(str(folder))
    assert page.evaluate("sessionStorage.getItem('repochat.apiKey')") == "right-key"
    assert page.evaluate("localStorage.length") == 0

    sent = ask(page, QUESTION)
    assert sent.headers["authorization"] == "Bearer right-key"
    answer = page.locator(".answer").last
    expect(answer.locator(".note")).to_contain_text("Extractive answer")
    expect(answer.locator(".sources li")).not_to_have_count(0)

    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name=f"Forget {accepted.json()['repository']}").click()
    expect(page.get_by_text("Nothing is indexed yet.")).to_be_visible()
    ask(page, QUESTION)
    expect(page.locator(".answer").last.locator(".note")).to_have_text(
        "Nothing relevant was found in the indexed documents."
    )


# -- GitHub sign-in

LAUNCH = "The launch code is zebra-quartz."


def test_signed_in_with_github_the_page_shows_only_what_the_user_may_read(
    page: Page, serve: ServeFactory, tmp_path: Path
) -> None:
    with FakeGitHub(tmp_path / "github") as gh:
        gh.create_repo("acme", "open", {"docs/widgets.md": "# Widgets\n\nPublic widget docs: turn the crank.\n"})
        gh.create_repo("acme", "secret", {"docs/plan.md": f"# Plan\n\n{LAUNCH}\n"})
        gh.hosted("acme", "secret").private = True
        gh.tokens.add("ghp_server")
        gh.users.add("alice", "acme/secret")
        gh.users.add("bob")
        app = gh.users.register_app()
        api = serve(
            REPOCHAT_API_KEYS="admin-key", GITHUB_TOKEN="ghp_server", REPOCHAT_GITHUB_PERMISSIONS="true",
            REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_GITHUB_WEB_URL=gh.api_url,
            REPOCHAT_GITHUB_OAUTH_CLIENT_ID=app.client_id, REPOCHAT_GITHUB_OAUTH_CLIENT_SECRET=app.client_secret,
        )  # fmt: skip
        app.callback_url = f"{api.url}/auth/github/callback"
        api.client.headers["authorization"] = "Bearer admin-key"
        for source in ("acme/open", "acme/secret"):
            accepted = api.client.post("/v1/repositories", json={"source": source})
            assert api.wait_for_job(accepted.json()["job_id"])["state"] == "succeeded"

        page.goto(api.url + "/")
        expect(page.locator("#notice")).to_contain_text("Sign in with GitHub to see the repositories you may read.")
        for login, sees_secret in (("bob", False), ("alice", True)):
            gh.users.signed_in = login
            page.get_by_role("link", name="Sign in with GitHub").click()
            expect(page.get_by_text(f"Signed in as {login}")).to_be_visible()
            cookie = next(c for c in page.context.cookies(api.url) if c["name"] == "repochat_session")
            assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Lax", False)
            assert page.evaluate("document.cookie").find("repochat_session") == -1, "no script reads the cookie"

            expect(page.locator(".repository strong")).to_have_text(
                ["acme/open", "acme/secret"] if sees_secret else ["acme/open"]
            )
            ask(page, "What is the launch code?")
            answer = page.locator(".answer").last
            if sees_secret:
                expect(answer).to_contain_text("zebra-quartz")
            else:
                expect(answer).not_to_contain_text("zebra")

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("link", name="Sign in with GitHub")).to_be_visible()
            assert [c for c in page.context.cookies(api.url) if c["name"] == "repochat_session"] == []
