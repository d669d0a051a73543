"use strict";
// The aigw admin console: one page per hash route, each reading the JSON admin API with the
// session cookie (changes also send the session's CSRF token). DOM built with h(): no
// innerHTML, so nothing from the API is ever parsed as markup.
(function () {
  const $ = (id) => document.getElementById(id);
  let session = null;

  // --- DOM ------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const clear = (e) => { while (e.firstChild) e.removeChild(e.firstChild); return e; };

  // --- formatting -----------------------------------------------------------------------
  const nf = new Intl.NumberFormat("en-US");
  const int = (v) => nf.format(Math.round(v || 0));
  function usd(v) {
    v = v || 0;
    if (v === 0) return "$0.00";
    if (Math.abs(v) < 0.01) return "$" + v.toFixed(6).replace(/0+$/, "");
    if (Math.abs(v) < 100) return "$" + v.toFixed(2);
    return "$" + nf.format(Math.round(v));
  }
  const ms = (v) => (v === null || v === undefined ? "–" : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`);
  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  const compact = (v) => (v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e4 ? (v / 1e3).toFixed(1) + "k" : int(v));
  function when(ts) {
    if (!ts) return "–";
    const d = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  function ago(ts) {
    if (!ts) return "never";
    const s = Date.now() / 1000 - ts;
    if (s < 60) return "just now";
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  function lastDays(n) {
    const out = [];
    const today = new Date();
    for (let i = n - 1; i >= 0; i--) {
      const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
      out.push(d.toISOString().slice(0, 10));
    }
    return out;
  }
  const dayLabel = (iso) => iso.slice(5).replace("-", "/");

  // --- API ------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
    const r = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) {
      window.location.replace("/ui/login");
      throw new Error("Signed out.");
    }
    let data = null;
    try { data = await r.json(); } catch (_) { /* empty body */ }
    if (!r.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${r.status}`);
    return data;
  }
  const qs = (o) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(o)) if (v !== "" && v !== null && v !== undefined && v !== false) p.set(k, v);
    const s = p.toString();
    return s ? "?" + s : "";
  };

  // --- shared pieces --------------------------------------------------------------------
  function flash(msg, bad) {
    const f = $("flash");
    f.textContent = msg;
    f.className = bad ? "flash bad" : "flash";
    f.hidden = false;
    clearTimeout(flash.t);
    flash.t = setTimeout(() => { f.hidden = true; }, bad ? 8000 : 4000);
  }
  const stat = (label, value, sub, id) => h("div", { class: "panel stat", "data-stat": id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "sub" }, sub || ""));
  const panel = (title, right, ...body) => h("div", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, title), right || ""), ...body);
  function table(cols, rows, opts) {
    opts = opts || {};
    if (!rows.length) return empty(opts.emptyTitle || "Nothing here yet", opts.emptyText || "");
    return h("div", { class: "table-wrap" }, h("table", { id: opts.id },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: c.num ? "num" : "" }, c.label)))),
      h("tbody", {}, rows.map((r) => {
        const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : {}, cols.map((c) => h("td", { class: (c.num ? "num " : "") + (c.cls || "") }, c.render(r))));
        return opts.after ? [tr, opts.after(r, tr)] : tr;
      }))));
  }
  function empty(title, text, icon) {
    return h("div", { class: "empty" }, h("div", { class: "empty-icon" }, icon || "∅"), h("b", {}, title), text ? h("span", {}, text) : "");
  }
  const badge = (text, kind) => h("span", { class: "badge" + (kind ? " badge-" + kind : "") }, text);
  const statusBadge = (s) => badge(String(s), s < 300 ? "ok" : s < 500 ? "warn" : "bad");
  const field = (label, input, hint) => h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", {}, hint) : "");
  const input = (id, attrs) => h("input", Object.assign({ id, type: "text" }, attrs || {}));

  // --- pages ----------------------------------------------------------------------------
  const pages = {};

  pages.overview = {
    title: "Overview",
    subtitle: "Today (UTC) and the last 7 days, from the usage records of every instance.",
    async render() {
      const o = await api("GET", "/v1/admin/overview");
      const t = o.today, w = o.last_7_days;
      const byDay = Object.fromEntries(o.by_day.map((r) => [r.day, r]));
      const days = lastDays(7).map((d) => ({ d, r: byDay[d] || {} }));
      const errRate = (p) => (p.requests ? p.errors / p.requests : null);
      return h("div", {},
        h("div", { class: "grid grid-4" },
          stat("Requests today", int(t.requests), h("span", {}, "7 days: ", h("b", {}, int(w.requests))), "requests"),
          stat("Errors today", int(t.errors), h("span", {}, "rate ", h("b", {}, pct(errRate(t))), " · 7 days ", h("b", {}, int(w.errors))), "errors"),
          stat("Latency p50 / p99", `${ms(t.latency_ms.p50)} / ${ms(t.latency_ms.p99)}`, h("span", {}, "7 days: ", h("b", {}, `${ms(w.latency_ms.p50)} / ${ms(w.latency_ms.p99)}`)), "latency"),
          stat("Cost today", usd(t.cost_usd), h("span", {}, "7 days: ", h("b", {}, usd(w.cost_usd))), "cost")),
        h("div", { class: "grid grid-4" },
          stat("Tokens today", compact(t.total_tokens), h("span", {}, "in ", h("b", {}, compact(t.prompt_tokens)), " · out ", h("b", {}, compact(t.completion_tokens))), "tokens"),
          stat("Tokens, 7 days", compact(w.total_tokens), h("span", {}, "in ", h("b", {}, compact(w.prompt_tokens)), " · out ", h("b", {}, compact(w.completion_tokens))), "tokens7"),
          stat("Cache hit rate", pct(t.cache_hit_rate), h("span", {}, int(t.cache_hits), t.cache_hits === 1 ? " hit today · 7 days " : " hits today · 7 days ", h("b", {}, pct(w.cache_hit_rate))), "cache"),
          stat("Cache savings", usd(t.saved_usd), h("span", {}, "7 days: ", h("b", {}, usd(w.saved_usd))), "savings")),
        h("div", { class: "grid grid-2" },
          panel("Requests per day", h("span", { class: "muted" }, "last 7 days"),
            AigwCharts.columns(days.map(({ d, r }) => ({ label: dayLabel(d), value: r.requests || 0 })), { format: compact, integer: true, title: "requests per day" })),
          panel("Cost per day", h("span", { class: "muted" }, "USD, last 7 days"),
            AigwCharts.columns(days.map(({ d, r }) => ({ label: dayLabel(d), value: r.cost_usd || 0 })), { format: usd, title: "cost per day" }))));
    },
  };

  pages.keys = {
    title: "API keys",
    subtitle: "Create, rotate and revoke the keys applications use. A key is shown once, when it is made.",
    async render(root) {
      const org = new URLSearchParams(location.hash.split("?")[1] || "").get("org") || "";
      const filter = input("org-filter", { placeholder: "Filter by organisation", value: org });
      filter.addEventListener("change", () => { location.hash = "#/keys" + qs({ org: filter.value.trim() }); });
      const newBtn = h("button", { class: "btn btn-primary", id: "new-key", type: "button" }, "+ New key");
      setActions(h("div", { class: "field" }, filter), newBtn);
      const form = keyForm(root);
      form.hidden = true;
      newBtn.addEventListener("click", () => { form.hidden = !form.hidden; if (!form.hidden) $("k-org").focus(); });
      const list = await api("GET", "/v1/admin/api-keys" + qs({ org }));
      const keys = list.data.slice().reverse();
      const cols = [
        { label: "Key", render: (k) => h("div", {}, h("code", {}, k.prefix + "…"), k.name ? h("div", { class: "muted" }, k.name) : "") },
        { label: "Organisation", render: (k) => k.org },
        { label: "User", render: (k) => k.user || "–" },
        { label: "Scopes", render: (k) => h("div", { class: "chips" }, (k.scopes.length ? k.scopes : ["all but admin"]).map((s) => badge(s, s === "admin" ? "brand" : ""))) },
        { label: "Models", cls: "wrap", render: (k) => (k.models ? k.models.join(", ") : "all") },
        { label: "Limits", cls: "wrap", render: (k) => limitsText(k) },
        { label: "Status", render: (k) => badge(k.status, k.status === "active" ? "ok" : k.status === "revoked" ? "bad" : "warn") },
        { label: "Created", render: (k) => h("span", { title: when(k.created_at) }, ago(k.created_at)) },
        { label: "Last used", render: (k) => ago(k.last_used_at) },
        { label: "", render: (k) => (k.status === "active" ? h("div", { class: "chips" }, rotateButton(k), revokeButton(k)) : "") },
      ];
      return h("div", {}, form, h("div", { id: "secret-slot" }),
        h("div", { class: "panel panel-flush" },
          table(cols, keys, {
            id: "keys-table", rowAttrs: (k) => ({ "data-key-id": k.id, "data-prefix": k.prefix, "data-status": k.status }),
            emptyTitle: org ? `No keys for ${org}` : "No API keys yet",
            emptyText: "Create the first key with “+ New key”: pick its organisation, scopes and limits.",
          })));
    },
  };

  function limitsText(k) {
    const parts = [];
    for (const [n, v] of Object.entries(k.limits || {})) if (v !== null) parts.push(`${n.replace(/_/g, " ")}: ${int(v)}`);
    for (const [n, v] of Object.entries(k.budget || {})) if (v !== null) parts.push(`${n.replace(/_/g, " ")}: ${n.startsWith("usd") ? usd(v) : int(v)}`);
    return parts.length ? parts.join(" · ") : "–";
  }

  function showSecret(created, what) {
    const slot = $("secret-slot");
    const copy = h("button", { class: "btn btn-sm", type: "button" }, "Copy");
    copy.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(created.key); copy.textContent = "Copied"; } catch (_) { copy.textContent = "Select and copy"; }
    });
    const done = h("button", { class: "btn btn-sm", type: "button" }, "Done, I stored it");
    done.addEventListener("click", () => clear(slot));
    clear(slot).appendChild(h("div", { class: "secret", id: "new-secret" },
      h("h2", {}, `${what}: copy it now`),
      h("p", { class: "muted" }, `This is the only time the key for ${created.org}${created.name ? " (" + created.name + ")" : ""} is shown. aigw keeps only its hash.`),
      h("div", { class: "keyline" }, h("code", { id: "new-key-value" }, created.key), copy, done)));
  }

  function keyForm(root) {
    const scopes = ["chat", "embeddings", "models", "usage", "admin"];
    const err = h("p", { class: "form-error", hidden: true });
    const form = h("form", { class: "panel", id: "key-form", autocomplete: "off" },
      h("div", { class: "panel-head" }, h("h2", {}, "New API key")),
      err,
      h("div", { class: "form-grid" },
        field("Organisation *", input("k-org", { required: true, placeholder: "acme" })),
        field("User", input("k-user", { placeholder: "optional user id" })),
        field("Name", input("k-name", { placeholder: "e.g. billing-service" })),
        field("Models", input("k-models", { placeholder: "all models" }), "comma-separated; empty: every model"),
        field("Requests per minute", input("k-rpm", { type: "number", min: 1, placeholder: "no limit" })),
        field("Tokens per minute", input("k-tpm", { type: "number", min: 1, placeholder: "no limit" })),
        field("Budget, USD per day", input("k-usd-day", { type: "number", min: 0, step: "0.01", placeholder: "none" })),
        field("Budget, USD per month", input("k-usd-month", { type: "number", min: 0, step: "0.01", placeholder: "none" })),
        field("Expires in", input("k-expires", { placeholder: "never (or 30d, 12h)" }))),
      h("div", { class: "field" }, h("label", {}, "Scopes"),
        h("div", { class: "checks" }, scopes.map((s) => h("label", {}, h("input", { type: "checkbox", value: s, class: "k-scope", checked: s !== "admin" }), s)))),
      h("div", { class: "chips" },
        h("button", { class: "btn btn-primary", type: "submit", id: "k-create" }, "Create key"),
        h("button", { class: "btn", type: "button", onclick: () => { form.hidden = true; } }, "Cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      const v = (id) => $(id).value.trim();
      const body = { org: v("k-org") };
      if (v("k-user")) body.user = v("k-user");
      if (v("k-name")) body.name = v("k-name");
      if (v("k-models")) body.models = v("k-models").split(",").map((s) => s.trim()).filter(Boolean);
      body.scopes = [...form.querySelectorAll(".k-scope")].filter((c) => c.checked).map((c) => c.value);
      const limits = {};
      if (v("k-rpm")) limits.requests_per_minute = Number(v("k-rpm"));
      if (v("k-tpm")) limits.tokens_per_minute = Number(v("k-tpm"));
      if (Object.keys(limits).length) body.limits = limits;
      const budget = {};
      if (v("k-usd-day")) budget.usd_per_day = Number(v("k-usd-day"));
      if (v("k-usd-month")) budget.usd_per_month = Number(v("k-usd-month"));
      if (Object.keys(budget).length) body.budget = budget;
      if (v("k-expires")) body.expires_in = v("k-expires");
      if (!body.org) { err.textContent = "The organisation is required."; err.hidden = false; return; }
      try {
        const created = await api("POST", "/v1/admin/api-keys", body);
        await show("keys");
        showSecret(created, "New key created");
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      }
    });
    return form;
  }

  function confirmButton(label, confirmLabel, cls, action) {
    const b = h("button", { class: "btn btn-sm " + cls, type: "button" }, label);
    let armed = null;
    b.addEventListener("click", async () => {
      if (!armed) {
        b.classList.add("confirm");
        b.textContent = confirmLabel;
        armed = setTimeout(() => { armed = null; b.classList.remove("confirm"); b.textContent = label; }, 4000);
        return;
      }
      clearTimeout(armed);
      b.disabled = true;
      try { await action(); } catch (e) { flash(e.message, true); b.disabled = false; }
    });
    return b;
  }
  const revokeButton = (k) => {
    const b = confirmButton("Revoke", "Confirm revoke", "btn-danger", async () => {
      await api("DELETE", "/v1/admin/api-keys/" + encodeURIComponent(k.id));
      await show("keys");
      flash(`Key ${k.prefix}… revoked: it is refused from now on.`);
    });
    b.setAttribute("data-action", "revoke");
    return b;
  };
  const rotateButton = (k) => {
    const b = confirmButton("Rotate", "Confirm rotate", "", async () => {
      const r = await api("POST", "/v1/admin/api-keys/" + encodeURIComponent(k.id) + "/rotate", {});
      await show("keys");
      showSecret(r, `Key ${k.prefix}… rotated (the old one stays valid for its grace period)`);
    });
    b.setAttribute("data-action", "rotate");
    return b;
  };

  pages.usage = {
    title: "Usage & costs",
    subtitle: "Requests, tokens and spending by organisation, key, model and day.",
    async render() {
      const params = new URLSearchParams(location.hash.split("?")[1] || "");
      const range = params.get("range") || "7d";
      const org = params.get("org") || "";
      const go = (o) => { location.hash = "#/usage" + qs(Object.assign({ range, org }, o)); };
      const seg = h("div", { class: "seg", id: "range" }, ["7d", "30d", "90d"].map((r) => h("button", { type: "button", class: r === range ? "on" : "", onclick: () => go({ range: r }) }, r === "7d" ? "7 days" : r === "30d" ? "30 days" : "90 days")));
      const filter = input("usage-org", { placeholder: "All organisations", value: org });
      filter.addEventListener("change", () => go({ org: filter.value.trim() }));
      setActions(h("div", { class: "field" }, filter), seg);
      const [u, keys] = await Promise.all([
        api("GET", "/v1/usage" + qs({ start: range, group_by: "model,day,key,org", org })),
        api("GET", "/v1/admin/api-keys"),
      ]);
      const keyInfo = Object.fromEntries(keys.data.map((k) => [k.id, k]));
      const keyCell = (id) => {
        const k = keyInfo[id];
        if (!id) return h("span", { class: "muted" }, "no key");
        if (!k) return h("code", {}, id);
        return h("div", {}, h("code", {}, k.prefix + "…"), k.name ? h("div", { class: "muted" }, k.name) : "");
      };
      const t = u.totals;
      const n = Number(range.replace("d", ""));
      const byDay = Object.fromEntries(u.by_day.map((r) => [r.day, r]));
      const days = lastDays(n).map((d) => ({ d, r: byDay[d] || {} }));
      const shareTable = (rows, group, label, id, narrow) => {
        rows = rows.slice().sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests);
        return table([
          { label, render: (r) => (group === "key" ? keyCell(r.key) : r[group] || "–") },
          { label: "Requests", num: true, render: (r) => int(r.requests) },
          narrow ? { label: "Tokens", num: true, render: (r) => compact(r.total_tokens) }
            : { label: "Tokens in / out", num: true, render: (r) => `${compact(r.prompt_tokens)} / ${compact(r.completion_tokens)}` },
          narrow ? null : { label: "Cache hits", num: true, render: (r) => int(r.cache_hits) },
          { label: "Cost", num: true, render: (r) => usd(r.cost_usd) },
          { label: "Share of cost", cls: "bar-cell", render: (r) => AigwCharts.share(r.cost_usd, t.cost_usd) },
        ].filter(Boolean), rows, { id, emptyTitle: "No usage in this period", emptyText: "Requests appear here within a second of being answered." });
      };
      return h("div", {},
        h("div", { class: "grid grid-4" },
          stat("Requests", int(t.requests), `${int(t.cache_hits)} served from cache`, "u-requests"),
          stat("Tokens", compact(t.total_tokens), h("span", {}, "in ", h("b", {}, compact(t.prompt_tokens)), " · out ", h("b", {}, compact(t.completion_tokens))), "u-tokens"),
          stat("Cost", usd(t.cost_usd), org ? `organisation ${org}` : "all organisations", "u-cost"),
          stat("Saved by the cache", usd(t.saved_usd), "what cache hits would have cost", "u-saved")),
        h("div", { class: "grid grid-2" },
          panel("Cost per day", h("span", { class: "muted" }, "USD"), AigwCharts.columns(days.map(({ d, r }) => ({ label: dayLabel(d), value: r.cost_usd || 0 })), { format: usd, title: "cost per day" })),
          panel("Requests per day", h("div", { class: "legend" }, h("span", {}, h("i", {}), "requests"), h("span", {}, h("i", { class: "alt" }), "cache hits")),
            AigwCharts.columns(days.map(({ d, r }) => ({ label: dayLabel(d), value: r.requests || 0, value2: r.cache_hits || 0 })), { format: compact, integer: true, title: "requests per day" }))),
        h("div", { class: "panel panel-flush" }, h("div", { class: "panel-head" }, h("h2", {}, "By model")), shareTable(u.by_model, "model", "Model", "by-model")),
        h("div", { class: "grid grid-2" },
          h("div", { class: "panel panel-flush" }, h("div", { class: "panel-head" }, h("h2", {}, "By organisation")), shareTable(u.by_org, "org", "Organisation", "by-org", true)),
          h("div", { class: "panel panel-flush" }, h("div", { class: "panel-head" }, h("h2", {}, "By key")), shareTable(u.by_key, "key", "Key", "by-key", true))));
    },
  };

  pages.deployments = {
    title: "Deployments",
    subtitle: "Each provider deployment as this instance sees it now: health, breaker, latency, load.",
    async render() {
      const refresh = h("button", { class: "btn", type: "button", onclick: () => show("deployments") }, "Refresh");
      setActions(refresh);
      const [deps, errs] = await Promise.all([
        api("GET", "/v1/admin/deployments"),
        api("GET", "/v1/admin/requests" + qs({ status: "error", limit: 200 })),
      ]);
      const recent = {};
      for (const r of errs.data) if (r.deployment) (recent[r.deployment] = recent[r.deployment] || []).push(r);
      const health = (d) => (d.breaker_state === "closed" ? badge("healthy", "ok") : d.breaker_state === "half_open" ? badge("recovering", "warn") : badge("unhealthy", "bad"));
      const cols = [
        { label: "Deployment", render: (d) => h("div", {}, h("b", {}, d.id.split("/").slice(1).join("/")), h("div", { class: "muted" }, d.id.split("/")[0])) },
        { label: "Health", render: health },
        { label: "Breaker", render: (d) => h("span", {}, d.breaker_state.replace("_", "-"), d.breaker_state !== "closed" ? h("span", { class: "muted" }, ` · retry in ${Math.ceil(d.breaker_retry_in_s)} s`) : "", d.breaker_trips ? h("div", { class: "muted" }, `${d.breaker_trips} trips`) : "") },
        { label: "Latency (EWMA)", num: true, render: (d) => ms(d.ewma_ms) },
        { label: "In flight", num: true, render: (d) => int(d.in_flight) },
        { label: "Queue", num: true, render: (d) => (d.limit ? `${int(d.queued)} / ${int(d.limit)} slots` : int(d.queued)) },
        { label: "Calls", num: true, render: (d) => int(d.calls) },
        { label: "Failures", num: true, render: (d) => (d.failures ? badge(int(d.failures), "bad") : "0") },
        { label: "Recent errors", cls: "wrap", render: (d) => {
          const e = recent[d.id] || [];
          if (!e.length) return h("span", { class: "muted" }, "none");
          return h("div", {}, h("b", {}, `${e.length} in the latest errors`), h("div", { class: "muted" }, `last: `, statusBadge(e[0].status), ` ${ago(e[0].ts)} · `, h("code", {}, e[0].request_id)));
        } },
      ];
      return h("div", { class: "panel panel-flush" }, table(cols, deps.data, {
        id: "deployments-table", rowAttrs: (d) => ({ "data-deployment": d.id }),
        emptyTitle: "No deployments configured", emptyText: "Add providers and models to the config file (see config.example.yaml).",
      }));
    },
  };

  pages.requests = {
    title: "Requests",
    subtitle: "The latest requests across every instance, newest first.",
    async render() {
      const p = new URLSearchParams(location.hash.split("?")[1] || "");
      const f = { org: p.get("org") || "", key: p.get("key") || "", model: p.get("model") || "", status: p.get("status") || "" };
      const fOrg = input("r-org", { placeholder: "any", value: f.org });
      const fKey = input("r-key", { placeholder: "any key id", value: f.key });
      const fModel = input("r-model", { placeholder: "any", value: f.model });
      const fErr = h("input", { type: "checkbox", id: "r-errors", checked: f.status === "error" });
      const apply = (ev) => {
        if (ev) ev.preventDefault();
        location.hash = "#/requests" + qs({ org: fOrg.value.trim(), key: fKey.value.trim(), model: fModel.value.trim(), status: fErr.checked ? "error" : "" });
      };
      setActions(h("button", { class: "btn", type: "button", id: "r-refresh", onclick: () => show("requests") }, "Refresh"));
      const toolbar = h("form", { class: "toolbar", onsubmit: apply },
        field("Organisation", fOrg), field("Key", fKey), field("Model", fModel),
        h("div", { class: "checks" }, h("label", {}, fErr, "errors only")),
        h("button", { class: "btn btn-primary", type: "submit" }, "Apply"));
      const data = await api("GET", "/v1/admin/requests" + qs(Object.assign({ limit: 50 }, f)));
      const body = h("div", { class: "panel panel-flush" });
      const hint = data.log_prompts ? "Click a row to see its prompt and answer (kept in memory by the instance that served it)." : "Prompts and answers are not kept: turn on logging.log_prompts to see them here.";
      const render = (rows) => {
        const cols = [
          { label: "Time", render: (r) => h("span", { title: when(r.ts) }, when(r.ts).slice(0, 10) === when(Date.now() / 1000).slice(0, 10) ? when(r.ts).slice(11) : when(r.ts).slice(5, 16)) },
          { label: "Key", render: (r) => (r.key_prefix ? h("code", {}, r.key_prefix + "…") : h("span", { class: "muted" }, r.key_id ? r.key_id : "–")) },
          { label: "Org", render: (r) => r.org },
          { label: "Model", render: (r) => r.model },
          { label: "Provider", render: (r) => r.provider || "–" },
          { label: "Status", render: (r) => statusBadge(r.status) },
          { label: "Latency", num: true, render: (r) => ms(r.latency_ms) },
          { label: "Tokens in / out", num: true, render: (r) => `${int(r.prompt_tokens)} / ${int(r.completion_tokens)}` },
          { label: "Cost", num: true, render: (r) => usd(r.cost_usd) },
          { label: "Cache", render: (r) => (r.cache === "hit" || r.cache === "semantic" ? badge(r.cache, "brand") : h("span", { class: "muted" }, r.cache || "–")) },
          { label: "Request id", render: (r) => h("code", { title: r.request_id }, r.request_id.length > 16 ? r.request_id.slice(0, 14) + "…" : r.request_id) },
        ];
        return table(cols, rows, {
          id: "requests-table",
          rowAttrs: (r) => ({ "data-request-id": r.request_id, "data-key-id": r.key_id || "", class: data.log_prompts ? "expandable" : "" }),
          after: data.log_prompts ? (r, tr) => {
            const d = h("tr", { class: "detail", hidden: true }, h("td", { colspan: cols.length },
              r.prompt === undefined || r.prompt === null ? h("span", { class: "muted" }, "No contents kept for this request (served by another instance, or before log_prompts was on).")
                : h("div", { class: "contents" }, h("div", {}, h("label", {}, "Prompt"), h("pre", {}, promptText(r.prompt))), h("div", {}, h("label", {}, "Answer"), h("pre", {}, r.answer || "")))));
            tr.addEventListener("click", () => { d.hidden = !d.hidden; });
            return d;
          } : null,
          emptyTitle: "No requests yet", emptyText: "Requests appear here once they are answered. Send one with an API key to see it.",
        });
      };
      let rows = data.data;
      body.appendChild(render(rows));
      const more = h("button", { class: "btn", type: "button", id: "r-more", hidden: !data.has_more }, "Load older requests");
      more.addEventListener("click", async () => {
        const next = await api("GET", "/v1/admin/requests" + qs(Object.assign({ limit: 50, before: rows[rows.length - 1].id }, f)));
        rows = rows.concat(next.data);
        clear(body).appendChild(render(rows));
        more.hidden = !next.has_more;
      });
      return h("div", {}, h("div", { class: "panel" }, toolbar, h("p", { class: "muted" }, hint)), body, h("div", { class: "chips" }, more));
    },
  };

  // A chat prompt (JSON messages) as "role: text" lines; anything else as it is.
  function promptText(p) {
    try {
      const msgs = JSON.parse(p);
      if (!Array.isArray(msgs)) return p;
      return msgs.map((m) => {
        const c = typeof m.content === "string" ? m.content : JSON.stringify(m.content);
        return m && m.role ? `${m.role}: ${c}` : JSON.stringify(m);
      }).join("\n\n");
    } catch (_) {
      return p;
    }
  }

  pages.audit = {
    title: "Audit log",
    subtitle: "Every change to keys and every console sign-in, newest first.",
    async render() {
      const action = new URLSearchParams(location.hash.split("?")[1] || "").get("action") || "";
      const actions = ["", "keys.create", "keys.revoke", "keys.rotate", "console.login", "console.login_failed", "console.logout"];
      const sel = h("select", { id: "a-action" }, actions.map((a) => h("option", { value: a, selected: a === action }, a || "All actions")));
      sel.addEventListener("change", () => { location.hash = "#/audit" + qs({ action: sel.value }); });
      setActions(h("div", { class: "field" }, sel));
      const data = await api("GET", "/v1/admin/audit" + qs({ action, limit: 100 }));
      const kind = (a) => (a.endsWith("failed") || a.endsWith("revoke") ? "bad" : a.endsWith("create") || a === "console.login" ? "ok" : a.endsWith("rotate") ? "warn" : "");
      const detail = (d) => (d === null || d === undefined ? "–" : Object.entries(d).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · "));
      let rows = data.data;
      const body = h("div", { class: "panel panel-flush" });
      const render = () => table([
        { label: "Time", render: (e) => when(e.ts) },
        { label: "Actor", render: (e) => h("code", {}, e.actor) },
        { label: "Action", render: (e) => badge(e.action, kind(e.action)) },
        { label: "Target", render: (e) => (e.target ? h("code", {}, e.target) : "–") },
        { label: "Details", cls: "wrap", render: (e) => detail(e.detail) },
      ], rows, { id: "audit-table", rowAttrs: (e) => ({ "data-action": e.action }), emptyTitle: "No audit entries", emptyText: "Key changes and console sign-ins are recorded here." });
      body.appendChild(render());
      const more = h("button", { class: "btn", type: "button", hidden: !data.has_more }, "Load older entries");
      more.addEventListener("click", async () => {
        const next = await api("GET", "/v1/admin/audit" + qs({ action, limit: 100, before: rows[rows.length - 1].id }));
        rows = rows.concat(next.data);
        clear(body).appendChild(render());
        more.hidden = !next.has_more;
      });
      return h("div", {}, body, h("div", { class: "chips" }, more));
    },
  };

  // --- router ---------------------------------------------------------------------------
  function setActions(...nodes) { clear($("actions")); nodes.forEach((n) => $("actions").appendChild(n)); }

  async function show(name) {
    const page = pages[name] || pages.overview;
    name = pages[name] ? name : "overview";
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
    $("title").textContent = page.title;
    $("subtitle").textContent = page.subtitle;
    document.title = page.title + " · aigw console";
    const root = $("page");
    setActions();
    root.setAttribute("data-page", name);
    root.setAttribute("data-state", "loading");
    if (!root.firstChild) root.appendChild(h("div", { class: "loading" }, "Loading…"));
    try {
      const node = await page.render(root);
      clear(root).appendChild(node);
      root.setAttribute("data-state", "ready");
    } catch (e) {
      clear(root).appendChild(h("div", { class: "panel" }, empty("Could not load this page", e.message, "!")));
      root.setAttribute("data-state", "error");
    }
  }
  const route = () => show((location.hash.replace(/^#\/?/, "").split("?")[0]) || "overview");

  document.addEventListener("DOMContentLoaded", async () => {
    try {
      session = await api("GET", "/ui/api/session");
    } catch (_) { return; }
    clear($("who")).appendChild(h("span", {}, "Signed in as", h("b", {}, session.actor)));
    $("signout").addEventListener("click", async () => {
      try { await api("POST", "/ui/api/logout"); } finally { window.location.replace("/ui/login"); }
    });
    window.addEventListener("hashchange", route);
    route();
  });
})();
