// The check page: send the claim to POST /v1/check and draw one card per evidence passage.
// Every text from the API goes in through textContent or attributes, never innerHTML: the
// articles are third-party text.
"use strict";

const form = document.getElementById("check-form");
const claimBox = document.getElementById("claim");
const topK = document.getElementById("top-k");
const button = document.getElementById("check-button");
const statusLine = document.getElementById("status");
const cards = document.getElementById("cards");
const template = document.getElementById("card-template");

function setStatus(text, kind) {
  statusLine.textContent = text;
  statusLine.className = kind || "";
}

function safeUrl(url) {
  // Only web links become clickable; anything else (javascript:, data:) stays text.
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

function card(item) {
  const node = template.content.firstElementChild.cloneNode(true);
  const article = item.article;
  node.querySelector(".outlet").textContent = article.source;
  const date = node.querySelector(".date");
  date.textContent = article.published_at ? article.published_at.slice(0, 10) : "undated";
  if (article.published_at) date.dateTime = article.published_at;
  // Evidence (above the service's decision) or a weaker passage on the claim's subject.
  const likely = Math.round(item.probability * 100) + "% likely evidence";
  node.querySelector(".score").textContent = item.is_evidence ? likely : "related · " + likely;
  if (!item.is_evidence) node.classList.add("related");
  const link = node.querySelector(".link");
  link.textContent = article.title;
  const href = article.url ? safeUrl(article.url) : null;
  if (href) link.href = href;
  // The passage inside its context: context_start..context_end holds start..end.
  const from = item.start - item.context_start;
  const to = item.end - item.context_start;
  node.querySelector(".before").textContent = item.context.slice(0, from);
  node.querySelector(".passage").textContent = item.context.slice(from, to);
  node.querySelector(".after").textContent = item.context.slice(to);
  const sources = item.independent_sources;
  node.querySelector(".sources").textContent =
    sources === 1 ? "1 independent source" : sources + " independent sources";
  const list = node.querySelector(".corroboration");
  for (const other of item.corroborated_by) {
    const li = document.createElement("li");
    li.textContent = "Also in " + other.article.source + ": " + other.article.title;
    list.appendChild(li);
  }
  if (!item.corroborated_by.length) list.remove();
  return node;
}

function show(answer) {
  cards.replaceChildren(...answer.evidence.map(card));
  // The service words the answer (evidence, related passages, or why there is none).
  setStatus(answer.summary, answer.evidence.length ? "" : "empty");
}

async function check(event) {
  event.preventDefault();
  const claim = claimBox.value.trim();
  if (!claim) {
    setStatus("Type a claim first.", "error");
    claimBox.focus();
    return;
  }
  button.disabled = true;
  cards.replaceChildren();
  setStatus("Checking…");
  try {
    const response = await fetch("/v1/check", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ claim: claim, top_k: Number(topK.value) }),
    });
    const body = await response.json();
    if (response.ok) show(body);
    else setStatus("The service refused the claim: " + (body.detail || response.status), "error");
  } catch (_) {
    setStatus("The service could not be reached.", "error");
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", check);
claimBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
