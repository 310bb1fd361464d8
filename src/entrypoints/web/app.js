// The web chat page of repochat: a plain ES module over the /v1 HTTP API, no framework, no build.
// Markdown from the model or from indexed passages is rendered by marked and sanitized by
// DOMPurify before it reaches the page; everything else is set as text.

const { marked, DOMPurify } = window;

const KEY_STORAGE = "repochat.apiKey";
const POLL_MS = 500;
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const DEFAULT_COLLECTION = "default";

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const shortCommit = (sha) => sha.slice(0, 7);

// -- the API: every call sends the key, asks for one on 401, and fails with the error body's message

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

let keyPrompt = null;

function askForKey(message) {
  keyPrompt ??= new Promise((resolve, reject) => {
    const dialog = $("key-dialog");
    $("key-message").textContent = message;
    $("api-key").value = "";
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        keyPrompt = null;
        const key = $("api-key").value.trim();
        if (dialog.returnValue === "save" && key) {
          sessionStorage.setItem(KEY_STORAGE, key);
          resolve();
        } else {
          reject(new ApiError("unauthenticated", "This server needs an API key; reload the page to enter one."));
        }
      },
      { once: true },
    );
    dialog.showModal();
  });
  return keyPrompt;
}

async function errorOf(response) {
  try {
    const { error } = await response.json();
    return new ApiError(error.code, error.message);
  } catch {
    return new ApiError(`http_${response.status}`, `The server answered ${response.status} ${response.statusText}.`);
  }
}

async function api(path, { method = "GET", body } = {}) {
  for (;;) {
    const headers = {};
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError("unreachable", "The repochat server cannot be reached.");
    }
    if (response.ok) return response;
    const error = await errorOf(response);
    if (response.status === 401) {
      await askForKey("This server asks for an API key. It is kept in this browser tab only.");
    } else if (response.status === 403 && error.code === "forbidden") {
      sessionStorage.removeItem(KEY_STORAGE);
      await askForKey(`The server refused that key: ${error.message}. Enter another one.`);
    } else {
      throw error;
    }
  }
}

const json = async (path, options) => (await api(path, options)).json();

async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        const [field, ...rest] = line.split(":");
        const text = rest.join(":").replace(/^ /, "");
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield [name, JSON.parse(data.join("\n"))];
    }
  }
}

function showNotice(error) {
  $("notice-text").textContent = error.message;
  $("notice").hidden = false;
}

// -- Markdown, sanitized

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

// An answer may quote anything an indexed file or the model wrote: HTML in the Markdown is shown
// as text, and what marked makes of the rest is sanitized, without images (a Markdown image would
// make the browser fetch whatever URL the text chose).
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
marked.use({ breaks: true, renderer: { html: ({ text }) => escapeHtml(text) } });
const SANITIZE = { USE_PROFILES: { html: true }, FORBID_TAGS: ["img"] };

const renderMarkdown = (target, text) => {
  target.innerHTML = DOMPurify.sanitize(marked.parse(text), SANITIZE);
};

function linkCitations(root, citations) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement.closest("pre, code, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const node of texts) {
    const parts = node.textContent.split(/(\[\d+\])/);
    if (parts.length > 1) node.replaceWith(...parts.map((part) => citationButton(part, citations) ?? part));
  }
}

// A marker as a button that opens its passage; an unsupported one is marked, with the reason as its title,
// and a marker naming no passage of the answer is marked text.
function citationButton(part, citations) {
  const number = Number(part.match(/^\[(\d+)\]$/)?.[1]);
  if (!number) return null;
  const citation = citations[number - 1];
  if (!citation) {
    const reason = `Unsupported: ${part} is not a passage of this answer`;
    return element("span", { class: "cite unsupported", title: reason, "aria-label": reason }, part);
  }
  const where = `${citation.path}, lines ${citation.start_line} to ${citation.end_line}`;
  const open = () => openCitation(citation, number);
  const attributes = { type: "button", class: "cite", "aria-label": `Source ${part}: ${where}`, onclick: open };
  if (citation.supported === false) {
    Object.assign(attributes, {
      class: "cite unsupported",
      title: `Unsupported: ${citation.reason}`,
      "aria-label": `Source ${part}, unsupported (${citation.reason}): ${where}`,
    });
  }
  return element("button", attributes, part);
}

// -- citations

function openCitation(citation, number) {
  $("citation-title").textContent = `[${number}] ${citation.path}`;
  $("citation-meta").textContent =
    `${citation.repository} · commit ${shortCommit(citation.commit)} · ` +
    `lines ${citation.start_line}–${citation.end_line} · score ${citation.score}`;
  const lines = citation.text.split("\n");
  $("citation-lines").replaceChildren(
    ...lines.map((line, i) =>
      element("span", { class: "line" }, element("span", { class: "line-number" }, String(citation.start_line + i)), line),
    ),
  );
  const link = $("citation-link");
  link.textContent = citation.url;
  if (/^(https?|file):/i.test(citation.url)) link.href = citation.url;
  else link.removeAttribute("href");
  $("citation-dialog").showModal();
}

// -- chat

const history = [];

function selectedRepository() {
  const key = $("scope").value;
  return repositories.find((repo) => repositoryKey(repo) === key);
}

function addTurn(question) {
  const markdown = element("div", { class: "markdown" });
  const notes = element("div", { class: "answer-notes" });
  const answer = element(
    "article",
    { class: "answer", "aria-live": "polite", "aria-busy": "true", "aria-label": "Answer" },
    markdown,
    notes,
  );
  const turn = element("li", { class: "turn" }, element("p", { class: "question" }, question), answer);
  $("conversation").append(turn);
  turn.scrollIntoView({ block: "end" });
  return { answer, markdown, notes };
}

function finishAnswer(turn, text, { citations, generated, abstained, citation_check: check }) {
  renderMarkdown(turn.markdown, text);
  linkCitations(turn.markdown, citations);
  const note = (text) => turn.notes.append(element("p", { class: "note" }, text));
  if (abstained || !citations.length) {
    note("Nothing relevant was found in the indexed documents.");
    if (citations.length) {
      turn.notes.append(element("h3", {}, "Closest passages, too weak to answer from"), sourceList(citations, false));
    }
    return;
  }
  if (!generated) {
    note("Extractive answer: no language model is configured, so these are the most relevant passages, quoted as indexed.");
  }
  if (check?.unsupported) {
    note(`${check.unsupported} of ${check.cited} citations are not supported by the passage they cite (marked).`);
  }
  turn.notes.append(element("h3", {}, "Sources"), sourceList(citations, citations.some((c) => c.used)));
}

const sourceClass = (c, marked) =>
  c.supported === false ? { class: "unsupported", title: `Unsupported: ${c.reason}` } : marked && !c.used ? { class: "not-cited" } : {};
const sourceNote = (c, marked) =>
  c.supported === false ? ` · unsupported: ${c.reason}` : marked && !c.used ? " · not cited" : "";

// The passages of an answer by number; with `marked`, those the answer did not cite say so, and
// those the check found unsupported say why.
function sourceList(citations, marked) {
  const sources = citations.map((c, i) =>
    element(
      "li",
      sourceClass(c, marked),
      element(
        "button",
        { type: "button", class: "source", onclick: () => openCitation(c, i + 1) },
        `[${i + 1}] ${c.path}, lines ${c.start_line}–${c.end_line}`,
      ),
      element("span", { class: "muted" }, ` ${c.repository}${sourceNote(c, marked)}`),
    ),
  );
  return element("ol", { class: "sources" }, ...sources);
}

async function ask(question) {
  const turn = addTurn(question);
  const body = { question, history: [...history], stream: true };
  const scope = selectedRepository();
  if (scope) {
    // An entry of the default branch is what a search naming no ref reads already.
    const filters = { repository: scope.id, ...(scope.ref !== null && { ref: scope.ref }) };
    Object.assign(body, { collection: scope.collection, filters });
  }
  let text = "";
  let done = false;
  try {
    const response = await api("v1/ask", { method: "POST", body });
    for await (const [event, data] of serverSentEvents(response)) {
      if (event === "done") {
        done = true;
      } else if (event === "token") {
        text += data.text;
        renderMarkdown(turn.markdown, text);
      } else if (event === "citations") {
        finishAnswer(turn, text, data);
      } else if (event === "error") {
        throw new ApiError(data.error.code, data.error.message);
      }
    }
    if (!done) throw new ApiError("incomplete", "The answer broke off before it was complete; ask again.");
    history.push({ role: "user", content: question }, { role: "assistant", content: text });
  } catch (error) {
    turn.notes.append(element("p", { class: "error", role: "alert" }, error.message));
  } finally {
    turn.answer.setAttribute("aria-busy", "false");
  }
}

function setUpChat() {
  const form = $("ask-form");
  const question = $("question");
  const button = $("ask-button");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text || button.disabled) return;
    question.value = "";
    button.disabled = true;
    await ask(text);
    button.disabled = false;
    question.focus();
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-chat").addEventListener("click", () => {
    history.length = 0;
    $("conversation").replaceChildren();
    question.focus();
  });
}

// -- repositories

let repositories = [];

// One entry per (collection, repository, ref): a repository may be indexed at several refs side by side.
const repositoryKey = (repo) => `${repo.collection}:${repo.id}@${repo.ref ?? ""}`;
const refName = (repo) => repo.ref ?? "default branch";
const repositoryName = (repo) => {
  const name = repo.ref === null ? repo.id : `${repo.id} @ ${repo.ref}`;
  return repo.collection === DEFAULT_COLLECTION ? name : `${name} (${repo.collection})`;
};

async function loadRepositories() {
  ({ repositories } = await json("v1/repositories"));
  const list = $("repositories");
  list.replaceChildren(...repositories.map(repositoryItem));
  $("no-repositories").hidden = repositories.length > 0;
  const scope = $("scope");
  const chosen = scope.value;
  scope.replaceChildren(
    element("option", { value: "" }, "All repositories"),
    ...repositories.map((repo) => element("option", { value: repositoryKey(repo) }, repositoryName(repo))),
  );
  scope.value = repositories.some((repo) => repositoryKey(repo) === chosen) ? chosen : "";
}

function repositoryItem(repo) {
  const name = repositoryName(repo);
  const indexed = new Date(repo.indexed_at);
  const details = element(
    "p",
    { class: "muted" },
    `${refName(repo)} · commit ${shortCommit(repo.commit)} · ${repo.files} files · ${repo.chunks} chunks · indexed `,
    element("time", { datetime: repo.indexed_at }, indexed.toLocaleString()),
  );
  const resync = () => submitJob({ source: repo.source, ref: repo.ref, collection: repo.collection }).catch(showNotice);
  const forget = async () => {
    if (!confirm(`Forget ${name}? Its passages are removed from the index.`)) return;
    // This ref only (HEAD: the default branch): the repository's other refs stay indexed.
    const query = new URLSearchParams({ collection: repo.collection, ref: repo.ref ?? "HEAD" });
    const path = `v1/repositories/${encodeURIComponent(repo.id)}?${query}`;
    try {
      await api(path, { method: "DELETE" });
      await loadRepositories();
    } catch (error) {
      showNotice(error);
    }
  };
  return element(
    "li",
    { class: "repository" },
    element("strong", {}, name),
    details,
    element(
      "div",
      { class: "buttons" },
      element("button", { type: "button", class: "secondary", "aria-label": `Re-sync ${name}`, onclick: resync }, "Re-sync"),
      element("button", { type: "button", class: "danger", "aria-label": `Forget ${name}`, onclick: forget }, "Forget"),
    ),
  );
}

// -- index jobs

const jobs = new Map();

async function submitJob(body) {
  const accepted = await json("v1/repositories", { method: "POST", body });
  if (!jobs.has(accepted.job_id)) followJob(accepted.job);
}

function jobSummary(job) {
  const { files_total, files_done, chunks_written } = job.progress;
  if (job.state === "succeeded") {
    const r = job.result;
    return `Done: ${r.files_indexed} files indexed, ${r.files_unchanged} unchanged, ${r.files_deleted} deleted, ${r.chunks_written} chunks written.`;
  }
  if (job.state === "failed") return `Failed: ${job.error}`;
  if (job.state === "cancelled") return "Cancelled.";
  return `${job.state}: ${job.stage} · ${files_done} of ${files_total} files · ${chunks_written} chunks`;
}

function jobItem(job) {
  const name = job.ref ? `${job.repository} @ ${job.ref}` : job.repository;
  const progress = element("progress", { "aria-label": `Progress of ${name}` });
  const status = element("p", { class: "job-status", role: "status" });
  const cancel = element("button", { type: "button", class: "danger", "aria-label": `Cancel indexing ${name}` }, "Cancel");
  const item = element("li", { class: "job" }, element("strong", {}, name), progress, status, cancel);
  const update = (current) => {
    const { files_total, files_done } = current.progress;
    item.dataset.state = current.state;
    status.textContent = jobSummary(current);
    if (current.state === "succeeded") progress.value = progress.max = 1;
    else if (files_total) Object.assign(progress, { max: files_total, value: files_done });
    else progress.removeAttribute("value");
    cancel.hidden = FINISHED.has(current.state);
  };
  cancel.addEventListener("click", async () => {
    try {
      update(await json(`v1/jobs/${encodeURIComponent(job.id)}`, { method: "DELETE" }));
    } catch (error) {
      showNotice(error);
    }
  });
  return { item, update };
}

async function followJob(job) {
  const { item, update } = jobItem(job);
  jobs.set(job.id, item);
  $("jobs").prepend(item);
  let current = job;
  update(current);
  while (!FINISHED.has(current.state)) {
    await sleep(POLL_MS);
    try {
      current = await json(`v1/jobs/${encodeURIComponent(job.id)}`);
    } catch (error) {
      showNotice(error);
      return;
    }
    update(current);
  }
  await loadRepositories().catch(showNotice);
}

function setUpIndexing() {
  const form = $("index-form");
  const error = $("index-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const ref = form.ref.value.trim();
    try {
      await submitJob({ source: form.source.value.trim(), ...(ref && { ref }) });
      form.reset();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  });
}

async function resumeJobs() {
  const { jobs: recent } = await json("v1/jobs?limit=20");
  for (const job of recent.filter((j) => !FINISHED.has(j.state) && !jobs.has(j.id))) followJob(job);
}

// -- GitHub sign-in: the session cookie goes with every request of the page (same origin), so a
// signed-in page needs no key; the cookie itself is HttpOnly, out of this script's reach.

async function loadAccount() {
  const response = await fetch("auth/session");
  const account = response.ok ? await response.json() : { github_sign_in: false, login: null };
  const signedIn = Boolean(account.login);
  $("account").hidden = !account.github_sign_in && !signedIn;
  $("sign-in").hidden = signedIn;
  $("signed-in").hidden = $("sign-out").hidden = !signedIn;
  $("login").textContent = account.login ?? "";
  $("key-sign-in").hidden = !account.github_sign_in;
  return account;
}

async function signOut() {
  try {
    const response = await fetch("auth/logout", { method: "POST" });
    if (!response.ok) throw await errorOf(response);
    location.reload();
  } catch (error) {
    showNotice(error);
  }
}

async function start() {
  const account = await loadAccount().catch(() => ({ github_sign_in: false, login: null }));
  if (account.github_sign_in && !account.login && !sessionStorage.getItem(KEY_STORAGE)) {
    showNotice(new Error("Sign in with GitHub to see the repositories you may read."));
    return;
  }
  await loadRepositories();
  await resumeJobs();
}

$("sign-out").addEventListener("click", signOut);
$("notice-dismiss").addEventListener("click", () => {
  $("notice").hidden = true;
});
$("key-cancel").addEventListener("click", () => $("key-dialog").close());
setUpChat();
setUpIndexing();
start().catch(showNotice);
