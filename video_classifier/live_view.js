// The live view page: polls status.json, shows the stream, and drives the Teach panel.
"use strict";
const meta = document.querySelector('meta[name="movinet-token"]');
const token = meta.content;
// Links carry the token only where reading needs it (away from loopback).
const q = meta.dataset.reads === "yes" ? "?token=" + encodeURIComponent(token) : "";
const $ = (id) => document.getElementById(id);

// Start the endless stream after the page has loaded, so that the page counts as loaded.
window.addEventListener("load", () => { $("stream").src = "stream.mjpg" + q; });

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function bar(fraction) {
  const outer = el("span", undefined, "bar");
  const inner = el("div");
  inner.style.width = (Math.max(0, Math.min(1, fraction)) * 100).toFixed(0) + "%";
  outer.append(inner);
  return outer;
}

// Changes carry the token in a header, never in a link.
async function change(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

let shownActions = "";

function showTeach(teach) {
  $("teach").hidden = !teach;
  if (!teach) return;
  const lesson = teach.lesson;
  const busy = lesson && lesson.phase !== "done";
  $("teach-record").disabled = busy;
  let done = "";
  if (lesson && lesson.phase === "done") {
    done = lesson.error ? "could not save: " + lesson.error : `saved: ${lesson.saved} example(s) of ${lesson.name}`;
  }
  $("lesson").textContent = teach.status || done;
  $("lesson-bar").hidden = !busy;
  if (busy) $("lesson-bar").firstElementChild.style.width = (lesson.progress * 100).toFixed(0) + "%";
  // Redrawn only when it changed: a button replaced under a finger would lose the tap.
  const actions = JSON.stringify(teach.actions);
  if (actions === shownActions) return;
  shownActions = actions;
  const list = $("actions");
  list.replaceChildren(...teach.actions.map((action) => {
    const item = el("li", `${action.name}: ${action.examples.length} example(s) `);
    item.dataset.action = action.name;
    const forget = el("button", "Delete action", "forget");
    forget.addEventListener("click", () => remove(`teach/actions/${encodeURIComponent(action.name)}`));
    item.append(forget);
    const examples = el("ul");
    examples.append(...action.examples.map((example) => {
      const line = el("li", `${example.seconds} s from ${example.source}, ${example.taught_at}`);
      line.dataset.example = example.id;
      const drop = el("button", "Delete", "forget");
      drop.addEventListener("click", () =>
        remove(`teach/actions/${encodeURIComponent(action.name)}/examples/${encodeURIComponent(example.id)}`));
      line.append(drop);
      return line;
    }));
    item.append(examples);
    return item;
  }));
}

async function remove(path) {
  try { showTeach(await change("DELETE", path)); } catch (err) { $("lesson").textContent = err.message; }
}

$("teach-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    showTeach(await change("POST", "teach", {name: $("teach-name").value, seconds: Number($("teach-seconds").value)}));
  } catch (err) {
    $("lesson").textContent = err.message;
  }
});

async function refresh() {
  try {
    const s = await (await fetch("status.json" + q, {cache: "no-store"})).json();
    // The heading follows the bars: an action holding the threshold is shown before its event starts.
    const top = s.top[0];
    const starting = top && s.threshold !== null && top.score >= s.threshold;
    $("active").textContent = s.active ? s.active.label
      : s.camera !== "ok" ? s.camera : starting ? `${top.label} (starting)` : "no action";
    $("top").replaceChildren(...s.top.map((c) => {
      const row = el("div", undefined, "row");
      row.append(el("span", c.label), bar(c.score), el("span", (c.score * 100).toFixed(0) + "%"));
      return row;
    }));
    $("vitals").textContent =
      `model ${s.model_fps.toFixed(1)} fps, ${s.inference_ms ?? 0} ms | stream ${s.stream_fps.toFixed(1)} fps` + (s.paused ? " | paused" : "");
    const events = s.events.map((e) =>
      el("li", `${e.label}: ${e.start_s.toFixed(1)}-${e.end_s.toFixed(1)} s, peak ${(e.peak * 100).toFixed(0)}%`));
    if (s.active) events.unshift(el("li", `${s.active.label}: since ${s.active.start_s.toFixed(1)} s (in progress)`, "now"));
    $("events").replaceChildren(...(events.length ? events : [el("li", "none yet")]));
    $("clips-title").hidden = !s.clips.length;
    $("clips").replaceChildren(...s.clips.map((name) => {
      const link = el("a", name);
      link.href = `clips/${encodeURIComponent(name)}${q}`;
      link.download = name;
      const item = el("li");
      item.append(link);
      return item;
    }));
    showTeach(s.teach);
  } catch (err) {
    $("active").textContent = "app not reachable";
  }
}
refresh();
setInterval(refresh, 1000);
