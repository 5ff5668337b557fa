// The vidgen web console: plain JS, no framework, no build step. Everything the API
// says is put into the page with textContent (never innerHTML), so job text can not
// become markup.
"use strict";
(function () {
  const TOKEN_KEY = "vidgen-token";
  const PAGE_SIZE = 10;
  const POLL_MS = 1000;
  const ENDED = new Set(["completed", "failed", "canceled", "timed_out"]);

  const $ = (id) => document.getElementById(id);
  const state = {
    token: localStorage.getItem(TOKEN_KEY) || "",
    models: [],
    jobs: new Map(), // id -> { job, el }
    cursors: [null], // cursor of each page seen; the last is the current page
    nextCursor: null,
    filter: "",
    socket: null,
    socketOpen: false,
    backoff: 1000,
    pollTimer: null,
    refreshing: false,
  };

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || "the API answered " + status);
      this.status = status;
      this.field = e.field || null;
    }
  }

  // One API call: the token as a bearer, JSON in and out; a 401 shows the token entry.
  async function api(method, path, body) {
    const headers = {};
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (res.status === 401) {
      showTokenEntry(state.token ? "That token was refused; enter another." : "This API needs a bearer token.");
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  function showTokenEntry(why) {
    $("token-why").textContent = why;
    $("token-entry").hidden = false;
    $("token").focus();
  }

  // ---- form ----------------------------------------------------------------

  const list = (text) =>
    text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

  // The form field an API error names: `keywords[3]` is the keywords field,
  // `input_reference.upload_id` the reference image, `variants[0].size` the size.
  function fieldOf(name) {
    if (!name) return "form";
    const parts = name.split(/[.[\]]+/).filter((p) => p && !/^\d+$/.test(p));
    const first = parts[0];
    if (first === "variants") return parts[parts.length - 1] || "form";
    if (first === "content_type" || first === "bytes") return "input_reference";
    return $("err-" + first) ? first : "form";
  }

  function clearErrors(form) {
    form.querySelectorAll(".error").forEach((p) => (p.textContent = ""));
    form.querySelectorAll(".invalid").forEach((f) => f.classList.remove("invalid"));
  }

  function showError(field, message) {
    const target = $("err-" + field) || $("err-form");
    target.textContent = message;
    const box = target.closest(".field");
    if (box) box.classList.add("invalid");
  }

  function fillModels() {
    const select = $("f-model");
    select.replaceChildren();
    for (const m of state.models) {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.available ? m.id : m.id + " (no key)";
      o.disabled = !m.available;
      select.append(o);
    }
    const first = state.models.find((m) => m.available);
    if (first) select.value = first.id;
    fillModelChoices();
  }

  function fillModelChoices() {
    const m = state.models.find((x) => x.id === $("f-model").value);
    const fill = (select, values, chosen) => {
      select.replaceChildren();
      for (const v of values || []) {
        const o = document.createElement("option");
        o.value = String(v);
        o.textContent = String(v);
        select.append(o);
      }
      if (chosen !== undefined) select.value = String(chosen);
    };
    fill($("f-size"), m && m.sizes, m && m.default_size);
    fill($("f-seconds"), m && m.seconds, m && m.default_seconds);
  }

  // The reference image: a presigned PUT from POST /v1/uploads, then the file itself.
  async function upload(file) {
    const up = await api("POST", "/v1/uploads", { content_type: file.type, bytes: file.size });
    const res = await fetch(up.url, { method: "PUT", headers: { "Content-Type": file.type }, body: file });
    if (!res.ok) {
      const err = new ApiError(res.status, null);
      err.message = "the image upload was refused (" + res.status + ")";
      err.field = "input_reference";
      throw err;
    }
    return up.upload_id;
  }

  async function createJob(event) {
    event.preventDefault();
    const form = $("create-form");
    clearErrors(form);
    const body = { script: $("f-script").value, model: $("f-model").value };
    const style = $("f-style").value;
    if (style.trim()) body.style = style;
    const keywords = list($("f-keywords").value);
    if (keywords.length) body.keywords = keywords;
    const negative = list($("f-negative").value);
    if (negative.length) body.negative_keywords = negative;
    if ($("f-size").value) body.size = $("f-size").value;
    if ($("f-seconds").value) body.seconds = Number($("f-seconds").value);
    const callback = $("f-callback").value.trim();
    if (callback) body.callback_url = callback;
    const button = $("create");
    button.disabled = true;
    try {
      const file = $("f-reference").files[0];
      if (file) body.input_reference = { upload_id: await upload(file) };
      const job = await api("POST", "/v1/videos", body);
      upsert(job, true);
      form.reset();
      fillModels();
    } catch (e) {
      if (e instanceof ApiError && e.status !== 401) showError(fieldOf(e.field), e.message);
      else if (!(e instanceof ApiError)) showError("form", "could not reach the API: " + e.message);
    } finally {
      button.disabled = false;
    }
  }

  // ---- jobs ----------------------------------------------------------------

  const matchesFilter = (job) => !state.filter || job.status === state.filter;
  const onFirstPage = () => state.cursors.length === 1;

  function cardFor(job) {
    const el = $("job-template").content.firstElementChild.cloneNode(true);
    el.dataset.id = job.id;
    el.querySelector(".job-id").textContent = job.id;
    el.querySelector(".cancel").addEventListener("click", () => act(el, "POST", "/cancel"));
    el.querySelector(".delete").addEventListener("click", () => act(el, "DELETE", ""));
    el.querySelector(".remix").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const prompt = el.querySelector(".remix-prompt").value;
      act(el, "POST", "/remix", { prompt });
    });
    return el;
  }

  function render(el, job) {
    el.dataset.status = job.status;
    const status = el.querySelector(".status");
    status.textContent = job.status.replace("_", " ");
    status.dataset.status = job.status;
    el.querySelector(".meta").textContent = [job.model, job.size, job.seconds + " s"].join(" · ");
    el.querySelector(".summary").textContent = job.script || job.prompt || "";
    const bar = el.querySelector("progress");
    const pct = Math.max(0, Math.min(100, Number(job.progress) || 0));
    bar.value = pct;
    bar.setAttribute("aria-valuenow", String(pct));
    bar.setAttribute("aria-label", "progress of " + job.id);
    el.querySelector(".pct").textContent = pct + "%";
    el.querySelector(".job-error").textContent = job.error ? job.error.code + ": " + job.error.message : "";
    const ended = ENDED.has(job.status);
    el.querySelector(".cancel").hidden = ended;
    el.querySelector(".remix").hidden = job.status !== "completed";
    const player = el.querySelector(".player");
    const video = job.assets && job.assets.video;
    // The link changes on every read; a player already showing the video keeps its own.
    if (video && !player.querySelector("video")) {
      const v = document.createElement("video");
      v.controls = true;
      v.preload = "metadata";
      if (job.assets.thumbnail) v.poster = job.assets.thumbnail.url;
      v.src = video.url;
      player.append(v);
    }
  }

  function upsert(job, isNew) {
    const known = state.jobs.get(job.id);
    if (known) {
      known.job = job;
      render(known.el, job);
      return;
    }
    // A job this page does not show appears only where it belongs: the first page.
    if (!matchesFilter(job) || !(isNew || onFirstPage())) return;
    const el = cardFor(job);
    state.jobs.set(job.id, { job, el });
    render(el, job);
    $("job-list").prepend(el);
    $("empty").hidden = true;
  }

  async function act(el, method, suffix, body) {
    const id = el.dataset.id;
    const err = el.querySelector(".action-error");
    err.textContent = "";
    try {
      const answer = await api(method, "/v1/videos/" + encodeURIComponent(id) + suffix, body);
      if (method === "DELETE") {
        state.jobs.delete(id);
        el.remove();
      } else if (answer && answer.id) {
        upsert(answer, answer.id !== id);
      }
    } catch (e) {
      err.textContent = e.message;
    }
  }

  async function loadPage() {
    $("err-list").textContent = "";
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.filter) params.set("status", state.filter);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    let page;
    try {
      page = await api("GET", "/v1/videos?" + params);
    } catch (e) {
      if (e.status !== 401) $("err-list").textContent = e.message;
      return;
    }
    state.jobs.clear();
    $("job-list").replaceChildren();
    for (const job of page.data.slice().reverse()) upsert(job, true);
    state.nextCursor = page.next_cursor;
    $("next").disabled = !page.next_cursor;
    $("prev").disabled = onFirstPage();
    $("page").textContent = "page " + state.cursors.length;
    $("empty").hidden = page.data.length > 0;
  }

  // ---- live updates ------------------------------------------------------

  function eventsUrl() {
    const meta = document.querySelector('meta[name="vidgen-events-url"]');
    let base = meta && meta.content;
    if (!base) {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      base = scheme + "//" + location.host + "/v1/events";
    }
    return state.token ? base + "?access_token=" + encodeURIComponent(state.token) : base;
  }

  function setLive(mode) {
    const live = $("live");
    live.dataset.state = mode;
    live.textContent = { live: "live", polling: "polling", off: "offline" }[mode];
  }

  function connect() {
    if (state.socket) return;
    let socket;
    try {
      socket = new WebSocket(eventsUrl());
    } catch (_) {
      startPolling();
      return;
    }
    state.socket = socket;
    socket.onopen = () => {
      state.socketOpen = true;
      state.backoff = 1000;
      stopPolling();
      setLive("live");
      // Whatever changed while the socket was down.
      refreshUnfinished();
    };
    socket.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (frame && frame.type === "job.updated" && frame.job && frame.job.id) upsert(frame.job, false);
    };
    socket.onclose = () => {
      state.socket = null;
      state.socketOpen = false;
      startPolling();
      // Reconnect with backoff (1 s doubling to 30 s), polling meanwhile.
      const wait = state.backoff;
      state.backoff = Math.min(state.backoff * 2, 30000);
      setTimeout(connect, wait);
    };
  }

  function startPolling() {
    setLive("polling");
    if (state.pollTimer) return;
    state.pollTimer = setInterval(refreshUnfinished, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  async function refreshUnfinished() {
    // One sweep at a time: a slow API must not pile up overlapping sweeps.
    if (state.refreshing) return;
    state.refreshing = true;
    try {
      await sweep();
    } finally {
      state.refreshing = false;
    }
  }

  async function sweep() {
    for (const [id, entry] of Array.from(state.jobs)) {
      if (ENDED.has(entry.job.status)) continue;
      try {
        upsert(await api("GET", "/v1/videos/" + encodeURIComponent(id)), false);
      } catch (e) {
        if (e.status === 404) {
          state.jobs.delete(id);
          entry.el.remove();
        }
      }
    }
  }

  // ---- start -------------------------------------------------------------

  async function start() {
    try {
      const models = await api("GET", "/v1/models");
      state.models = models.data;
    } catch (e) {
      if (e.status !== 401) $("err-form").textContent = "could not load the models: " + e.message;
      return;
    }
    $("token-entry").hidden = true;
    fillModels();
    await loadPage();
    if (state.socket) state.socket.close();
    else connect();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    localStorage.setItem(TOKEN_KEY, state.token);
    start();
  });
  $("create-form").addEventListener("submit", createJob);
  $("f-model").addEventListener("change", fillModelChoices);
  $("filter").addEventListener("change", () => {
    state.filter = $("filter").value;
    state.cursors = [null];
    loadPage();
  });
  $("refresh").addEventListener("click", loadPage);
  $("next").addEventListener("click", () => {
    if (!state.nextCursor) return;
    state.cursors.push(state.nextCursor);
    loadPage();
  });
  $("prev").addEventListener("click", () => {
    if (state.cursors.length > 1) state.cursors.pop();
    loadPage();
  });
  start();
})();
