"use strict";
// Hand-drawn SVG charts for the console: a column chart (one or two series) and a share bar.
// No library, no inline styles: colours come from classes in app.css.
(function () {
  const NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A "nice" axis maximum: 1, 2, 2.5 or 5 times a power of ten, at least `v`.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // data: [{label, value, value2?}]; opts: {format(v), height, series: [name, name2]}
  function columns(data, opts) {
    opts = opts || {};
    const fmt = opts.format || ((v) => String(v));
    const wrap = document.createElement("div");
    wrap.className = "chart";
    if (!data.length || data.every((d) => !d.value && !d.value2)) {
      const empty = document.createElement("div");
      empty.className = "chart-empty";
      empty.textContent = opts.empty || "No data in this period yet.";
      wrap.appendChild(empty);
      return wrap;
    }
    const two = data.some((d) => d.value2 !== undefined);
    let max = niceMax(Math.max(...data.map((d) => Math.max(d.value || 0, d.value2 || 0))));
    if (opts.integer) max = Math.max(4, Math.ceil(max / 4) * 4); // whole-number ticks
    // Room on the left for the longest tick label (about 6.5 px a character at 11 px).
    const longest = Math.max(...[0, 1, 2, 3, 4].map((i) => fmt((max * i) / 4).length));
    const W = 640, H = opts.height || 220, left = 14 + longest * 6.5, right = 12, top = 18, bottom = 28;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title || "chart" });
    const plotH = H - top - bottom, plotW = W - left - right;
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH - (plotH * i) / 4;
      svg.appendChild(el("line", { x1: left, x2: W - right, y1: y, y2: y, class: i ? "grid-line" : "axis" }));
      svg.appendChild(el("text", { x: left - 8, y: y + 4, "text-anchor": "end", class: "tick" }, fmt((max * i) / 4)));
    }
    const slot = plotW / data.length;
    const barW = Math.min(44, slot * (two ? 0.36 : 0.6));
    data.forEach((d, i) => {
      const cx = left + slot * i + slot / 2;
      const series = two ? [[d.value || 0, "bar", -barW / 2 - 1], [d.value2 || 0, "bar bar-alt", barW / 2 + 1]]
                         : [[d.value || 0, "bar", 0]];
      for (const [v, cls, dx] of series) {
        const h = max ? (plotH * v) / max : 0;
        const x = cx + dx - barW / 2, y = top + plotH - h;
        const r = el("rect", { x: x, y: y, width: barW, height: Math.max(h, v ? 1 : 0), rx: 3, class: cls });
        r.appendChild(el("title", {}, `${d.label}: ${fmt(v)}`));
        svg.appendChild(r);
        if (!two && v && data.length <= 14) {
          svg.appendChild(el("text", { x: cx, y: y - 5, "text-anchor": "middle", class: "val" }, fmt(v)));
        }
      }
      if (data.length <= 16 || i % Math.ceil(data.length / 16) === 0) {
        svg.appendChild(el("text", { x: cx, y: H - 8, "text-anchor": "middle", class: "tick" }, d.label));
      }
    });
    wrap.appendChild(svg);
    return wrap;
  }

  // A thin horizontal bar showing `part` of `whole` (for "share of cost" table cells).
  function share(part, whole) {
    const pct = whole > 0 ? Math.max(0, Math.min(100, (100 * part) / whole)) : 0;
    const svg = el("svg", { viewBox: "0 0 100 6", preserveAspectRatio: "none", class: "share-svg", width: "100%", height: 6 });
    svg.appendChild(el("rect", { x: 0, y: 0, width: 100, height: 6, rx: 3, fill: "#eef0f4" }));
    svg.appendChild(el("rect", { x: 0, y: 0, width: pct, height: 6, rx: 3, fill: "#6366f1" }));
    return svg;
  }

  window.AigwCharts = { columns: columns, share: share };
})();
