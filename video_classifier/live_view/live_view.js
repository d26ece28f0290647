// The live view page: polls status.json, shows the stream, drives the Teach panel and the
// corrections of recent events.
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

// "other" is the reserved action for "something else happens here".
const shown = (label) => (label === "other" ? "something else" : label);

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
let libraryVersion = "";  // status.json sends the taught actions only when they changed since this

function showTeach(teach) {
  $("teach").hidden = !teach;
  if (!teach) return;
  const lesson = teach.lesson;
  const busy = lesson && lesson.phase !== "done";
  $("teach-record").disabled = busy;
  $("teach-cancel").hidden = !busy;
  $("lesson").textContent = teach.status || lessonEnd(lesson);
  $("lesson-bar").hidden = !busy;
  if (busy) $("lesson-bar").firstElementChild.style.width = (lesson.progress * 100).toFixed(0) + "%";
  if (teach.actions === undefined) return;  // unchanged since the last poll
  libraryVersion = String(teach.library_version);
  // Redrawn only when it changed: a button replaced under a finger would lose the tap.
  const actions = JSON.stringify(teach.actions);
  if (actions === shownActions) return;
  shownActions = actions;
  $("taught-names").replaceChildren(...teach.actions.filter((a) => a.name !== "other").map((a) => {
    const option = el("option");
    option.value = a.name;
    return option;
  }));
  const list = $("actions");
  list.replaceChildren(...teach.actions.map((action) => {
    const item = el("li", `${shown(action.name)}: ${action.examples.length} example(s) `);
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

function lessonEnd(lesson) {
  if (!lesson) return "";
  if (lesson.error) return "could not save: " + lesson.error;
  if (lesson.cancelled) return `cancelled: ${lesson.saved} example(s) of ${shown(lesson.name)} saved`;
  if (lesson.phase === "done") return `saved: ${lesson.saved} example(s) of ${shown(lesson.name)}`;
  return "";
}

async function remove(path) {
  try {
    const answer = await change("DELETE", path);
    if (answer.message) $("lesson").textContent = answer.message;  // 202: deleted once the library's lock is free
    else showTeach(answer);
  } catch (err) { $("lesson").textContent = err.message; }
}

$("teach-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    showTeach(await change("POST", "teach", {name: $("teach-name").value, seconds: Number($("teach-seconds").value)}));
  } catch (err) {
    $("lesson").textContent = err.message;
  }
});

$("teach-cancel").addEventListener("click", async () => {
  try { showTeach(await change("POST", "teach/cancel")); } catch (err) { $("lesson").textContent = err.message; }
});

// -- recent events and their corrections ------------------------------------------------------
let shownEvents = "";

function when(e) {
  const span = e.end_s === null ? `since ${e.start_s.toFixed(1)} s` : `${e.start_s.toFixed(1)}-${e.end_s.toFixed(1)} s`;
  return e.started_at ? `${new Date(e.started_at * 1000).toLocaleTimeString()}, ${span}` : span;
}

function showEvents(events) {
  // Redrawn only when they changed, and not while a name is typed in: a button replaced under a
  // finger would lose the tap, a field its text.
  const text = JSON.stringify(events);
  const typing = document.activeElement && document.activeElement.closest("#events");
  if (text === shownEvents || (typing && document.activeElement.tagName === "INPUT")) return;
  shownEvents = text;
  $("events").replaceChildren(...(events.length ? events.map(eventItem) : [el("li", "none yet")]));
}

function eventItem(e) {
  const item = el("li", undefined, "event");
  item.dataset.event = e.id;
  const label = e.end_s === null ? `${shown(e.label)} (now)` : shown(e.label);
  item.append(el("strong", label), el("span", ` ${when(e)}, peak ${(e.peak * 100).toFixed(0)}%, id ${e.id} `));
  if (e.clip) {
    const link = el("a", "clip");
    link.href = `clips/${encodeURIComponent(e.clip)}${q}`;
    link.download = e.clip;
    item.append(link);
  }
  if (!("corrected" in e)) return item;  // the model's own classes: nothing to correct
  if (e.corrected) item.append(el("div", `corrected as ${shown(e.corrected)}`, "corrected"));
  const buttons = el("div", undefined, "verdicts");
  const right = el("button", "Right", "right");
  const wrong = el("button", "Wrong", "wrong");
  const other = el("button", "It was ...", "it-was");
  right.addEventListener("click", () => correct(e.id, "right"));
  wrong.addEventListener("click", () => correct(e.id, "wrong"));
  const form = el("form", undefined, "it-was-form");
  form.hidden = true;
  const name = el("input");
  name.setAttribute("list", "taught-names");
  name.maxLength = 40;
  name.required = true;
  name.placeholder = "what was it?";
  name.autocomplete = "off";
  form.append(name, el("button", "Save"));
  other.addEventListener("click", () => { form.hidden = !form.hidden; if (!form.hidden) name.focus(); });
  form.addEventListener("submit", (event) => { event.preventDefault(); correct(e.id, name.value); name.blur(); });
  buttons.append(right, wrong, other);
  if (e.corrected) {  // take the correction back: the event counts as it was seen again
    const undo = el("button", "Undo", "undo");
    undo.addEventListener("click", () => correct(e.id, "undo"));
    buttons.append(undo);
  }
  item.append(buttons, form);
  return item;
}

async function correct(id, verdict) {
  try {
    $("correction").textContent = (await change("POST", `events/${encodeURIComponent(id)}/correct`, {as: verdict})).message;
  } catch (err) {
    $("correction").textContent = err.message;
  }
  refresh();
}

// -- the region the model watches: drag a box on the picture ---------------------------------
let region = null;  // status.json's region: what is watched, what is set, the picture's size
let dragFrom = null;

function showRegion(r) {
  region = r;
  if (!r) return;
  const box = (b) => `${b[0]},${b[1]},${b[2]},${b[3]}`;
  const what = r.auto ? (r.watched ? `auto, now ${box(r.watched)}` : "auto, now the whole picture")
    : r.watched ? box(r.watched) : "the whole picture";
  const limit = r.auto && r.set ? ` within ${box(r.set)}` : "";
  $("region-text").textContent = `The model watches ${what}${limit}${r.drawn ? " (drawn here)" : ""}. ` +
    "Drag a box on the picture to choose a part.";
  $("region-clear").hidden = !r.drawn;
}

// A point of the page as pixels of the camera picture (X,Y from its top-left corner).
function picturePoint(event) {
  const rect = $("stream").getBoundingClientRect();
  const [width, height] = region.picture;
  const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
  const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
  return {x: x * width / rect.width, y: y * height / rect.height, px: x, py: y};
}

$("picture").addEventListener("pointerdown", (event) => {
  if (!region || !region.picture) return;
  dragFrom = picturePoint(event);
  $("picture").setPointerCapture(event.pointerId);
  event.preventDefault();
});

$("picture").addEventListener("pointermove", (event) => {
  if (!dragFrom) return;
  const to = picturePoint(event);
  const box = $("drag-box");
  box.hidden = false;
  box.style.left = Math.min(dragFrom.px, to.px) + "px";
  box.style.top = Math.min(dragFrom.py, to.py) + "px";
  box.style.width = Math.abs(to.px - dragFrom.px) + "px";
  box.style.height = Math.abs(to.py - dragFrom.py) + "px";
});

$("picture").addEventListener("pointerup", async (event) => {
  if (!dragFrom) return;
  const from = dragFrom, to = picturePoint(event);
  dragFrom = null;
  $("drag-box").hidden = true;
  const x = Math.round(Math.min(from.x, to.x)), y = Math.round(Math.min(from.y, to.y));
  const w = Math.round(Math.abs(to.x - from.x)), h = Math.round(Math.abs(to.y - from.y));
  if (w < 4 || h < 4) return;  // a tap, not a box
  try { showRegion(await change("POST", "region", {x, y, w, h})); } catch (err) { $("region-text").textContent = err.message; }
});

$("region-clear").addEventListener("click", async () => {
  try { showRegion(await change("DELETE", "region")); } catch (err) { $("region-text").textContent = err.message; }
});

async function refresh() {
  try {
    const seen = libraryVersion === "" ? "" : (q ? "&" : "?") + "library=" + libraryVersion;
    const s = await (await fetch("status.json" + q + seen, {cache: "no-store"})).json();
    // The heading follows the bars: an action holding the threshold is shown before its event starts
    // (not "unknown" nor "something else": those never start one; nor the model's first frames).
    const top = s.top[0];
    const starting = top && !s.settling && s.threshold !== null && top.score >= s.threshold
      && !["unknown", "other"].includes(top.label);
    $("active").textContent = s.active ? shown(s.active.label)
      : s.camera !== "ok" ? s.camera : starting ? `${shown(top.label)} (starting)`
      : s.warming_up_s !== null && s.warming_up_s !== undefined ? `warming up, ${s.warming_up_s.toFixed(1)} s` : "no action";
    $("top").replaceChildren(...s.top.map((c) => {
      const row = el("div", undefined, "row");
      row.append(el("span", shown(c.label)), bar(c.score), el("span", (c.score * 100).toFixed(0) + "%"));
      return row;
    }));
    $("vitals").textContent =
      `model ${s.model_fps.toFixed(1)} fps, ${s.inference_ms ?? 0} ms | stream ${s.stream_fps.toFixed(1)} fps` + (s.paused ? " | paused" : "");
    showEvents(s.events);
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
    showRegion(s.region);
  } catch (err) {
    $("active").textContent = "app not reachable";
  }
}
refresh();
setInterval(refresh, 1000);
