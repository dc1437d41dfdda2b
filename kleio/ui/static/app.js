// Kleio's dashboard: three pages (trials, a trial, plots) drawn from /api/ answers.
//
// Every value that comes from a trial is written as text (textContent, text nodes),
// never as HTML: a command line, configuration value, output line, tag or file name
// holding "<script>" shows as those characters and runs nothing.
"use strict";

(() => {
  // Each curve's colour and line style come with it from /api/series, as `kleio plot`
  // draws it (one colour per trial, one style per key); these draw the styles, in pixels.
  const DASHES = { solid: [], dashed: [6, 3], dotted: [1.5, 2.25], "dash-dot": [7.5, 3, 1.5, 3],
                   sparse: [1.5, 6], "long-dash": [13.5, 3.75] };
  // The legend's marker of each style: a CSS border style.
  const BORDERS = { solid: "solid", dashed: "dashed", dotted: "dotted", "dash-dot": "dashed",
                    sparse: "dotted", "long-dash": "dashed" };
  const STATUSES = ["new", "reserved", "running", "completed", "broken", "interrupted", "lost"];
  const ACTIVE = ["reserved", "running"];
  const POLL = 2000;            // ms between two reads of a running trial
  const ZOOM_WAIT = 300;        // ms a zoom rests before its range is asked for
  const TRIALS_POLL = 5000;     // ms between two reads of a list showing running trials
  const SELECTED = "kleio-selected";
  const ZONE = "kleio-zone";
  // Ticks of an x axis of whole numbers (steps, epochs): never 0.2 of a step.
  const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4,
                 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8];
  const main = document.getElementById("main");
  let leaving = [];             // what the current page stops when another opens

  // -- building nodes ------------------------------------------------------------------
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "class") node.className = value;
      else if (name === "checked" || name === "value" || name === "disabled") node[name] = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    add(node, children);
    return node;
  }

  function add(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));  // text, never HTML
    }
    return node;
  }

  function clear(node, ...children) {
    node.replaceChildren();
    return add(node, children);
  }

  function breakable(text) {
    // Text that may break after _ - . / (with <wbr>, between text nodes: never HTML).
    return String(text).split(/(?<=[_\-./])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
  }

  function trialLink(id, text) {
    return h("a", { href: "#/trial/" + encodeURIComponent(id), class: "mono" }, text);
  }

  function status(text) {
    const known = STATUSES.includes(text) ? text : "other";
    return h("span", { class: "status status-" + known }, text);
  }

  function errorBox(error) {
    return h("div", { class: "error" }, String(error && error.message ? error.message : error));
  }

  // -- values as people read them (as Kleio's tables show them) ------------------------
  function number(value) {
    if (!Number.isFinite(value)) return String(value);
    if (value === 0) return "0";
    if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
    const magnitude = Math.abs(value);
    if (magnitude >= 1e15 || magnitude < 1e-4) return value.toExponential(3).replace(/\.?0+e/, "e");
    const digits = Math.max(0, 3 - Math.floor(Math.log10(magnitude)));
    const text = value.toFixed(digits);
    return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
  }

  function show(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return number(value);
    if (typeof value === "string") return value;
    if (typeof value === "boolean") return String(value);
    return JSON.stringify(value);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
    return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
  }

  // Times carry their zone, as `kleio info` prints them: UTC unless the reader chose
  // the browser's own zone, which is then named (a bare "05:18" is read in any zone).
  function zone() {
    try { return localStorage.getItem(ZONE) === "local" ? "local" : "utc"; }
    catch (error) { return "utc"; }
  }

  function localZone(date) {
    // The zone's name (Europe/Paris), else its offset then (UTC+05:30), as Kleio names it.
    const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (name && !name.startsWith("Etc/")) return name;
    const minutes = -date.getTimezoneOffset();
    if (!minutes) return "UTC";
    const sign = minutes < 0 ? "-" : "+", hours = Math.floor(Math.abs(minutes) / 60);
    return `UTC${sign}${String(hours).padStart(2, "0")}:${String(Math.abs(minutes) % 60).padStart(2, "0")}`;
  }

  function when(iso, inZone) {
    if (!iso) return "-";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    if ((inZone || zone()) === "utc") return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
    const parts = {};
    for (const part of new Intl.DateTimeFormat("en-GB", {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    }).formatToParts(date)) parts[part.type] = part.value;
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${localZone(date)}`;
  }

  function moment(iso) {
    // A time as a <time> node; its title gives it in the other zone.
    if (!iso) return "-";
    return h("time", { datetime: iso, title: when(iso, zone() === "utc" ? "local" : "utc") }, when(iso));
  }

  function size(bytes) {
    if (bytes === null || bytes === undefined) return "-";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let amount = bytes, unit = 0;
    while (amount >= 1024 && unit < units.length - 1) { amount /= 1024; unit += 1; }
    return unit ? `${amount.toFixed(1)} ${units[unit]}` : `${amount} B`;
  }

  // -- the API -------------------------------------------------------------------------
  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== undefined && item !== null && item !== "") url.searchParams.append(name, item);
      }
    }
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    let body;
    try {
      body = await response.json();
    } catch (error) {
      throw new Error(`${response.status} ${response.statusText}`);
    }
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function every(milliseconds, work) {
    // Run `work` again `milliseconds` after it ends, until the page changes.
    let stopped = false, timer = null;
    const loop = async () => {
      if (stopped) return;
      try { await work(); } catch (error) { /* shown by the work itself; try again */ }
      if (!stopped) timer = setTimeout(loop, milliseconds);
    };
    timer = setTimeout(loop, milliseconds);
    const stop = () => { stopped = true; clearTimeout(timer); };
    leaving.push(stop);
    return stop;
  }

  function selected() {
    try { return new Set(JSON.parse(sessionStorage.getItem(SELECTED) || "[]")); }
    catch (error) { return new Set(); }
  }

  function keepSelected(set) {
    sessionStorage.setItem(SELECTED, JSON.stringify([...set]));
  }

  // -- charts (uPlot) ------------------------------------------------------------------
  function chart(container, options) {
    // A chart of `curves` answers (/api/series); update() redraws in place.
    let plot = null, shape = "";
    const legend = options.legend !== false;

    function destroy() {
      if (plot) plot.destroy();
      plot = null;
    }

    function fit() {
      if (plot) plot.setSize({ width: Math.max(320, container.clientWidth || 800), height: plot.height });
    }
    window.addEventListener("resize", fit);
    leaving.push(() => window.removeEventListener("resize", fit));

    // A zoom (a drag across the chart) is handed to options.onZoom([min, max]) once the
    // mouse rests (ZOOM_WAIT ms), so that the page asks the server for that range's points
    // (exact when few enough); a double click zooms out: onZoom(null).
    let zoomTimer = null;
    function zoomed(range) {
      if (!options.onZoom) return;
      clearTimeout(zoomTimer);
      zoomTimer = setTimeout(() => options.onZoom(range), ZOOM_WAIT);
    }
    leaving.push(() => clearTimeout(zoomTimer));

    function update(answer, log, keepScale) {
      const curves = answer.curves;
      container.dataset.points = String(curves.reduce((sum, c) => sum + c.points, 0));
      container.dataset.curves = String(curves.length);
      if (!curves.length) {
        destroy();
        shape = "";
        clear(container, h("p", { class: "muted" }, "Nothing to draw."));
        return;
      }
      const tables = curves.map((c) => [c.x, log ? c.y.map((v) => (v > 0 ? v : null)) : c.y]);
      const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      const marks = [...new Set(curves.flatMap((c) => c.branch_points))];
      const now = JSON.stringify([answer.x, log, curves.map((c) => [c.label, c.colour, c.style])]);
      if (plot && now === shape) {
        plot.branchPoints = marks;
        if (keepScale) {  // a zoom's points: the range the user chose stays
          const { min, max } = plot.scales.x;
          plot.setData(data, false);
          plot.setScale("x", { min, max });
        } else {
          plot.setData(data);
        }
        return;
      }
      destroy();
      container.replaceChildren();
      shape = now;
      const integral = curves.every((c) => c.x.every(Number.isInteger));
      const width = Math.max(320, container.clientWidth || 800);
      plot = new uPlot({
        width,
        height: options.height || 340,
        legend: { show: legend, live: true, markers: { dash: (u, i) => BORDERS[curves[i - 1].style] || "solid" } },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
        axes: [integral ? { label: answer.x, incrs: WHOLE } : { label: answer.x }, { size: 70 }],
        series: [
          { label: answer.x, value: (u, v) => (v === null ? "-" : number(v)) },
          ...curves.map((c) => ({
            label: c.label,
            stroke: c.colour,
            dash: DASHES[c.style] || [],
            width: 1.5,
            spanGaps: true,
            points: { show: false },
            value: (u, v) => (v === null ? "-" : number(v)),
          })),
        ],
        hooks: { draw: [drawBranchPoints] },
      }, data, container);
      plot.branchPoints = marks;
      const drawnPlot = plot;
      drawnPlot.over.addEventListener("mouseup", () => setTimeout(() => {
        const { min, max } = drawnPlot.scales.x;
        const whole = drawnPlot.data[0];
        if (whole.length && (min > whole[0] || max < whole[whole.length - 1])) zoomed([min, max]);
      }, 0));
      drawnPlot.over.addEventListener("dblclick", () => zoomed(null));
    }

    function drawBranchPoints(u) {
      const context = u.ctx;
      context.save();
      context.strokeStyle = "#737373";
      context.setLineDash([5, 4]);
      context.lineWidth = 1;
      for (const x of u.branchPoints || []) {
        const left = Math.round(u.valToPos(x, "x", true));
        context.beginPath();
        context.moveTo(left, u.bbox.top);
        context.lineTo(left, u.bbox.top + u.bbox.height);
        context.stroke();
      }
      context.restore();
    }

    leaving.push(destroy);
    return { update };
  }

  function firstKey(keys) {
    // What a chart draws first: the first key that is no counter.
    const counters = ["epoch", "step", "iteration", "batch"];
    return keys.find((key) => !counters.includes(key)) || keys[0];
  }

  async function liveCurves(id, { kind, x, keys, running, chartNode, boxNode, prefer, shown }) {
    // A chart of one trial's records of `kind`, with a box per key; `keys` known already
    // (else asked for), read again while the trial runs. `shown` appears once there are keys.
    let known = [];
    const drawn = new Set();
    const view = chart(chartNode, { height: 240 });
    const showKeys = (numeric) => {
      if (numeric.join("\n") === known.join("\n")) return;
      known = numeric;
      if (shown) shown.hidden = !known.length;
      if (!drawn.size && known.length) drawn.add((prefer || []).find((k) => known.includes(k)) || firstKey(known));
      clear(boxNode, known.map((key) => {
        const box = h("input", { type: "checkbox", checked: drawn.has(key), "data-key": key });
        box.addEventListener("change", () => { if (box.checked) drawn.add(key); else drawn.delete(key); redraw(); });
        return h("label", {}, box, " ", key);
      }));
    };
    const redraw = async () => {
      if (!drawn.size) { if (known.length) view.update({ x, curves: [] }, false); return; }
      try {
        const answer = await api("/api/series", { trials: id, y: [...drawn].join(","), x, kind, points: 800 });
        view.update(answer, false);
      } catch (error) {
        clear(chartNode, errorBox(error));
      }
    };
    const ask = async () => showKeys((await api("/api/keys", { trials: id, kind })).statistics);
    if (keys) showKeys(keys); else await ask();
    await redraw();
    if (running) every(POLL, async () => { await ask(); await redraw(); });
  }

  // -- a study's views: groups, parallel coordinates, scatter ---------------------------
  // Drawn by hand on a canvas from the rows the page already holds: no request per view,
  // and 1,000 lines drawn as about 24 paths (one per colour band), not 1,000 strokes.
  const BANDS = 24;
  // Viridis, sampled: dark (low) to yellow (high), readable on white and by the colour-blind.
  const VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c",
                   "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"];
  const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  const SMALL = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

  function viridis(fraction) {
    const at = Math.min(1, Math.max(0, fraction)) * (VIRIDIS.length - 1);
    const low = Math.floor(at), high = Math.min(VIRIDIS.length - 1, low + 1);
    const [a, b] = [VIRIDIS[low], VIRIDIS[high]].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
    const mix = a.map((c, i) => Math.round(c + (b[i] - c) * (at - low)));
    return `rgb(${mix[0]},${mix[1]},${mix[2]})`;
  }

  function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  function scaleOf(values) {
    // How an axis places values: numbers on a line, anything else as categories in
    // their first order. `at(value)`: 0 (bottom) to 1 (top), or null. The line is
    // logarithmic when every value is positive, they span two decades or more and half
    // of them would sit in the bottom fifth of a linear axis: learning rates (0.001,
    // 0.01, 0.1), not a dropout from 0.001 to 0.5 spread evenly.
    const present = values.filter((v) => v !== null && v !== undefined);
    if (present.length && present.every(isNumber)) {
      const low = Math.min(...present), high = Math.max(...present);
      const median = [...present].sort((x, y) => x - y)[Math.floor((present.length - 1) / 2)];
      const log = low > 0 && high / low >= 100 && (median - low) / (high - low) < 0.2;
      const f = log ? Math.log10 : (v) => v;
      let a = f(low), b = f(high);
      if (a === b) { a -= log ? 0.5 : Math.abs(a) * 0.1 || 1; b += log ? 0.5 : Math.abs(b) * 0.1 || 1; }
      return { kind: "number", log, low: a, high: b,
               at: (v) => (isNumber(v) && (!log || v > 0) ? (f(v) - a) / (b - a) : null),
               ticks: () => (log ? logTicks(a, b) : niceTicks(a, b, 5)) };
    }
    const categories = [...new Map(present.map((v) => [show(v), v])).keys()];
    const place = new Map(categories.map((c, i) => [c, categories.length === 1 ? 0.5 : i / (categories.length - 1)]));
    return { kind: "category", categories,
             at: (v) => (v === null || v === undefined ? null : place.get(show(v)) ?? null),
             ticks: () => categories.map((c) => ({ at: place.get(c), text: c })) };
  }

  function niceTicks(low, high, count) {
    const step0 = (high - low) / count;
    const power = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= step0) || 10 * power;
    const ticks = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
      const value = Math.abs(v) < step * 1e-9 ? 0 : v;
      ticks.push({ at: (value - low) / (high - low), text: number(Number(value.toPrecision(12))) });
    }
    return ticks;
  }

  function logTicks(low, high) {
    const ticks = [];
    for (let p = Math.ceil(low - 1e-9); p <= high + 1e-9; p += 1) ticks.push({ at: (p - low) / (high - low), text: number(Math.pow(10, p)) });
    return ticks.length >= 2 ? ticks : niceTicks(low, high, 4).map((t) => ({ at: t.at, text: number(Math.pow(10, parseFloat(t.text))) }));
  }

  function cut(context, text, width) {
    // The text as it fits `width` pixels, cut with "…".
    text = String(text);
    if (context.measureText(text).width <= width) return text;
    let low = 0, high = text.length;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (context.measureText(text.slice(0, middle) + "…").width <= width) low = middle; else high = middle - 1;
    }
    return text.slice(0, low) + "…";
  }

  function sharpCanvas(canvas, width, height) {
    // A canvas of `width` x `height` CSS pixels, drawn at the screen's density.
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    return context;
  }

  function variedKeys(rows, keys) {
    // The configuration keys whose values differ between these rows: what was swept.
    return keys.filter((key) => new Set(rows.map((row) => row[key]).filter((v) => v !== null && v !== undefined)
      .map((v) => JSON.stringify(v))).size > 1);
  }

  function parallelCoordinates(canvas, rows, keys, colourKey, brushes, changed) {
    // One axis per key (the last, `colourKey`, colours the lines); each trial a line.
    // Dragging along an axis brushes a range of it (kept in `brushes`, as fractions of
    // the axis); a click on an axis clears its brush; `changed(inside)` is told the ids
    // of the rows inside every brush.
    const started = performance.now();
    const width = Math.max(480, canvas.parentNode.clientWidth || 1000), height = 400;
    const margin = { top: 46, bottom: 26, left: 56, right: 110 };
    const scales = keys.map((key) => scaleOf(rows.map((row) => row[key])));
    const spacing = keys.length > 1 ? (width - margin.left - margin.right) / (keys.length - 1) : 0;
    const xs = keys.map((_, i) => margin.left + (keys.length > 1 ? i * spacing : (width - margin.left - margin.right) / 2));
    const top = margin.top, bottom = height - margin.bottom, span = bottom - top;
    const colour = scales[keys.length - 1];
    const y = (fraction) => bottom - fraction * span;
    const places = rows.map((row) => keys.map((key, i) => scales[i].at(row[key])));
    const inBrushes = (place) => keys.every((key, i) => {
      const brush = brushes.get(key);
      return !brush || (place[i] !== null && place[i] >= brush[0] && place[i] <= brush[1]);
    });
    const inside = rows.filter((row, r) => inBrushes(places[r]));
    const context = sharpCanvas(canvas, width, height);

    // Lines: those outside a brush in grey underneath, then each colour band as one path.
    // Opaque for a few lines, faint for many: at 1,000, where lines agree shows darker.
    const alpha = Math.min(0.9, Math.max(0.15, 8 / Math.sqrt(rows.length + 1)));
    const bands = Array.from({ length: BANDS + 1 }, () => []);
    const outside = [];
    rows.forEach((row, r) => {
      if (!inBrushes(places[r])) { outside.push(places[r]); return; }
      const c = places[r][keys.length - 1];
      bands[c === null ? BANDS : Math.min(BANDS - 1, Math.floor(c * BANDS))].push(places[r]);
    });
    const trace = (list) => {
      context.beginPath();
      for (const place of list) {
        let drawing = false;
        place.forEach((fraction, i) => {
          if (fraction === null) { drawing = false; return; }
          if (drawing) context.lineTo(xs[i], y(fraction)); else context.moveTo(xs[i], y(fraction));
          drawing = true;
        });
      }
      context.stroke();
    };
    context.lineWidth = 1;
    context.globalAlpha = Math.min(alpha, 0.35);
    context.strokeStyle = "#c4c8cf";
    trace(outside);
    context.globalAlpha = alpha;
    bands.forEach((list, band) => {
      if (!list.length) return;
      context.strokeStyle = band === BANDS ? "#9aa0a8" : viridis((band + 0.5) / BANDS);
      trace(list);
    });
    context.globalAlpha = 1;

    // Axes, their ticks, their brushes, then their names (cut to the room between axes).
    const axes = [];
    const labels = [];
    keys.forEach((key, i) => {
      const x = Math.round(xs[i]) + 0.5;
      context.strokeStyle = "#6b7280";
      context.beginPath(); context.moveTo(x, top); context.lineTo(x, bottom); context.stroke();
      context.font = SMALL;
      context.fillStyle = "#4b5563";
      context.textAlign = "right";
      context.textBaseline = "middle";
      const room = Math.max(30, Math.min(spacing * 0.45, 110)) - 6;
      for (const tick of scales[i].ticks()) {
        const ty = y(tick.at);
        context.beginPath(); context.moveTo(x - 3, ty); context.lineTo(x, ty); context.stroke();
        context.lineWidth = 3; context.strokeStyle = "rgba(255,255,255,0.85)";
        const text = cut(context, tick.text, room);
        context.strokeText(text, x - 5, ty);
        context.fillText(text, x - 5, ty);
        context.lineWidth = 1; context.strokeStyle = "#6b7280";
      }
      const brush = brushes.get(key);
      if (brush) {
        context.fillStyle = "rgba(31, 95, 191, 0.18)";
        context.strokeStyle = "#1f5fbf";
        context.fillRect(x - 9, y(brush[1]), 18, y(brush[0]) - y(brush[1]));
        context.strokeRect(x - 9, y(brush[1]), 18, y(brush[0]) - y(brush[1]));
      }
      context.font = "600 " + FONT;
      context.fillStyle = "#1d2330";
      context.textAlign = "center";
      context.textBaseline = "alphabetic";
      const text = cut(context, key, Math.max(40, (keys.length > 1 ? spacing : width) - 10));
      // The first and last names stay inside the canvas.
      const w = context.measureText(text).width;
      const centre = Math.min(Math.max(x, w / 2 + 2), width - w / 2 - 2);
      context.fillText(text, centre, top - 26);
      if (scales[i].log) {  // said under the name, never cutting it
        context.font = SMALL;
        context.fillStyle = "#6b7280";
        context.fillText("log scale", centre, top - 12);
      }
      labels.push({ key, text, left: centre - w / 2, right: centre + w / 2 });
      axes.push({ key, x: x - 0.5, top, bottom, kind: scales[i].kind, log: !!scales[i].log });
    });

    // The colour scale of the last axis, at the right.
    const barX = width - 40, barTop = top + 14, barHeight = span - 14;
    const gradient = context.createLinearGradient(0, barTop + barHeight, 0, barTop);
    VIRIDIS.forEach((c, i) => gradient.addColorStop(i / (VIRIDIS.length - 1), c));
    context.fillStyle = gradient;
    context.fillRect(barX, barTop, 12, barHeight);
    context.font = SMALL;
    context.fillStyle = "#4b5563";
    context.textAlign = "right";
    context.textBaseline = "middle";
    if (colour.kind === "number") {
      const value = (f) => number(colour.log ? Math.pow(10, f) : f);
      context.fillText(cut(context, value(colour.high), 70), barX - 4, barTop + 4);
      context.fillText(cut(context, value(colour.low), 70), barX - 4, barTop + barHeight - 4);
    }
    context.textAlign = "right";
    context.textBaseline = "alphabetic";
    context.fillText(cut(context, "colour: " + keys[keys.length - 1], 150), width - 4, barTop - 4);

    canvas.dataset.axes = JSON.stringify(axes);
    canvas.dataset.labels = JSON.stringify(labels);
    canvas.dataset.lines = String(rows.length);
    canvas.dataset.inside = String(inside.length);
    canvas.dataset.drawMs = (performance.now() - started).toFixed(1);

    // Brushing: drag along an axis; a click without a drag clears its brush.
    const axisAt = (event) => {
      const box = canvas.getBoundingClientRect();
      const px = event.clientX - box.left, py = event.clientY - box.top;
      const near = Math.max(12, Math.min(24, spacing / 3));
      const found = axes.findIndex((axis) => Math.abs(axis.x - px) <= near);
      return { index: found, py };
    };
    canvas.onmousedown = (event) => {
      const { index, py } = axisAt(event);
      if (index < 0 || py < top - 8 || py > bottom + 8) return;
      event.preventDefault();
      const key = keys[index];
      const from = (bottom - Math.min(bottom, Math.max(top, py))) / span;
      let moved = false;
      const move = (next) => {
        const box = canvas.getBoundingClientRect();
        const to = (bottom - Math.min(bottom, Math.max(top, next.clientY - box.top))) / span;
        if (Math.abs(to - from) * span < 3 && !moved) return;
        moved = true;
        brushes.set(key, [Math.min(from, to), Math.max(from, to)]);
        changed(parallelCoordinates(canvas, rows, keys, colourKey, brushes, changed));
      };
      const up = (next) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        if (moved) move(next); else brushes.delete(key);
        changed(parallelCoordinates(canvas, rows, keys, colourKey, brushes, changed));
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    };
    canvas.onmousemove = (event) => {
      // An axis's whole name, under the pointer (a cut one is shown whole here).
      const { index } = axisAt(event);
      canvas.title = index >= 0 ? `${keys[index]}: drag along the axis to keep a range, click to clear it` : "";
      canvas.style.cursor = index >= 0 ? "ns-resize" : "default";
    };
    return new Set(inside.map((row) => row.id));
  }

  function scatterPlot(canvas, rows, xKey, yKey, highlighted) {
    // `yKey` against `xKey`, a point per trial (those outside the brushes in grey); a
    // key whose values span two decades or more is drawn on a logarithmic axis.
    const width = Math.max(480, canvas.parentNode.clientWidth || 1000), height = 360;
    const margin = { top: 16, bottom: 46, left: 76, right: 20 };
    const sx = scaleOf(rows.map((row) => row[xKey])), sy = scaleOf(rows.map((row) => row[yKey]));
    const left = margin.left, right = width - margin.right, top = margin.top, bottom = height - margin.bottom;
    const pad = 0.04;  // points on the edges stay whole
    const px = (f) => left + (pad + f * (1 - 2 * pad)) * (right - left);
    const py = (f) => bottom - (pad + f * (1 - 2 * pad)) * (bottom - top);
    const context = sharpCanvas(canvas, width, height);
    context.strokeStyle = "#e3e6ea";
    context.font = SMALL;
    context.fillStyle = "#4b5563";
    context.textAlign = "right";
    context.textBaseline = "middle";
    for (const tick of sy.ticks()) {
      context.beginPath(); context.moveTo(left, py(tick.at)); context.lineTo(right, py(tick.at)); context.stroke();
      context.fillText(cut(context, tick.text, margin.left - 10), left - 6, py(tick.at));
    }
    context.textAlign = "center";
    context.textBaseline = "top";
    const xTicks = sx.ticks();
    const room = (right - left) / Math.max(1, xTicks.length) - 6;
    for (const tick of xTicks) {
      context.beginPath(); context.moveTo(px(tick.at), top); context.lineTo(px(tick.at), bottom); context.stroke();
      context.fillText(cut(context, tick.text, room), px(tick.at), bottom + 6);
    }
    context.strokeStyle = "#6b7280";
    context.strokeRect(left + 0.5, top + 0.5, right - left, bottom - top);
    context.font = "600 " + FONT;
    context.fillStyle = "#1d2330";
    context.fillText(cut(context, xKey + (sx.log ? " (log)" : ""), right - left), (left + right) / 2, bottom + 24);
    context.save();
    context.translate(14, (top + bottom) / 2);
    context.rotate(-Math.PI / 2);
    context.textBaseline = "middle";
    context.fillText(cut(context, yKey + (sy.log ? " (log)" : ""), bottom - top), 0, 0);
    context.restore();
    // Categories get a small fixed jitter: three seeds of one setting stay three points.
    const jitter = sx.kind === "category" ? 0.35 / Math.max(2, sx.categories.length) : 0;
    let drawn = 0;
    const order = [...rows.filter((row) => !highlighted.has(row.id)), ...rows.filter((row) => highlighted.has(row.id))];
    for (const row of order) {
      const fx = sx.at(row[xKey]), fy = sy.at(row[yKey]);
      if (fx === null || fy === null) continue;
      const shake = jitter ? ((hashOf(row.id) % 1000) / 1000 - 0.5) * jitter : 0;
      context.beginPath();
      context.arc(px(fx + shake), py(fy), 3.5, 0, 2 * Math.PI);
      context.fillStyle = highlighted.has(row.id) ? "rgba(31, 95, 191, 0.75)" : "rgba(160, 166, 175, 0.55)";
      context.fill();
      drawn += 1;
    }
    canvas.dataset.points = String(drawn);
    canvas.dataset.logX = String(!!sx.log);
    canvas.dataset.logY = String(!!sy.log);
  }

  function hashOf(text) {
    let hash = 0;
    for (const char of String(text)) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
    return hash;
  }

  // -- the trials page -----------------------------------------------------------------
  const FILTERS = [
    ["tags", "tags", "sweep;best"],
    ["status", "status", "completed,running"],
    ["project", "project", ""],
    ["study", "study", ""],
    ["since", "since", "7d, 2026-11-01"],
    ["where", "where", "lr<0.1; loss:min<0.02"],
    ["sort", "sort", "loss:min, -created"],
    ["keys", "columns", "loss:min,acc:max"],
  ];

  async function trialsPage(params) {
    const inputs = {};
    const hidden = new Set(params.getAll("hide"));  // the columns the reader hid
    const form = h("form", { class: "filters", id: "filters" },
      FILTERS.map(([name, label, example]) => {
        const value = name === "where" ? params.getAll("where").join("; ") : params.get(name) || "";
        inputs[name] = h("input", { type: "text", name, value, placeholder: example });
        return h("label", {}, label, inputs[name]);
      }),
      h("label", { class: "check" },
        inputs.all = h("input", { type: "checkbox", name: "all", checked: params.get("all") === "1" }),
        "every configuration key"),
      h("button", { type: "submit", class: "primary" }, "Apply"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [name] of FILTERS) {
        const text = inputs[name].value.trim();
        if (!text) continue;
        if (name === "where") text.split(";").map((s) => s.trim()).filter(Boolean).forEach((w) => next.append("where", w));
        else next.set(name, text);
      }
      if (inputs.all.checked) next.set("all", "1");
      for (const key of hidden) next.append("hide", key);  // the columns chosen stay so
      location.hash = "#/?" + next.toString();
    });
    const chosen = selected();
    const chooser = h("details", { id: "columns", class: "chooser" });
    let shown = null;           // the last answer, drawn again when a column is hidden
    const plotButton = h("button", { type: "button", id: "plot-selected" }, "");
    const clearButton = h("button", { type: "button" }, "Clear selection");
    const count = h("span", { class: "muted", id: "count" });
    const message = h("div");
    const table = h("div", { id: "trials" });
    const pager = h("div", { class: "pager" });
    // A study's reading: groups of trials, and two views of the rows of this page.
    const grouping = h("details", { id: "group-by", class: "chooser" });
    const viewButtons = {
      parallel: h("button", { type: "button", id: "show-parallel", "aria-pressed": "false" }, "Parallel coordinates"),
      scatter: h("button", { type: "button", id: "show-scatter", "aria-pressed": "false" }, "Scatter"),
    };
    const groupsBox = h("div", { id: "groups" });
    const viewsBox = h("div", { id: "views" });
    const brushes = new Map();  // axis key -> [low, high], fractions of the axis
    let inside = null;          // ids of the rows inside every brush (null: no brush)
    clear(main, form,
      h("div", { class: "toolbar" }, plotButton, clearButton, chooser, grouping, viewButtons.parallel, viewButtons.scatter, count),
      message, groupsBox, viewsBox, table, pager);

    function refreshButtons() {
      plotButton.textContent = `Plot selected (${chosen.size})`;
      plotButton.disabled = chosen.size === 0;
      clearButton.disabled = chosen.size === 0;
    }
    plotButton.addEventListener("click", () => {
      location.hash = "#/plot?" + new URLSearchParams({ trials: [...chosen].join(",") }).toString();
    });
    clearButton.addEventListener("click", () => {
      chosen.clear();
      keepSelected(chosen);
      refreshButtons();
      table.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = false; });
    });
    refreshButtons();

    const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
    const query = {
      tags: params.get("tags"), status: params.get("status"), project: params.get("project"),
      study: params.get("study"), since: params.get("since"), where: params.getAll("where"), sort: params.get("sort"),
      keys: params.get("keys"), all: params.get("all"), offset, limit: params.get("limit") || 50,
      group: params.get("group"), seeds: params.get("seeds"),
    };

    function go(changes) {
      const next = new URLSearchParams(params);
      for (const [name, value] of Object.entries(changes)) {
        if (value === null || value === "" || value === 0) next.delete(name); else next.set(name, value);
      }
      location.hash = "#/?" + next.toString();
    }

    async function load() {
      let answer;
      try {
        answer = await api("/api/trials", query);
      } catch (error) {
        clear(message, errorBox(error), params.get("group")
          ? h("button", { type: "button", id: "stop-grouping", onclick: () => go({ group: null }) }, "Stop grouping")
          : null);
        clear(table);
        return false;
      }
      clear(message);
      shown = answer;
      renderChooser(answer);
      renderGrouping(answer);
      renderGroups(answer);
      renderViews(answer);
      renderTable(answer);
      return answer.rows.some((row) => ACTIVE.includes(row.status));
    }

    function remember(name, value) {
      // A choice that needs no new answer: kept in the address, drawn again here.
      if (value) params.set(name, value); else params.delete(name);
      history.replaceState(null, "", "#/?" + params.toString());
    }

    function renderGrouping(answer) {
      // Group by configuration keys (those that differ; all with "every configuration
      // key"), or by every one but the seeds: `group=lr,batch` or `group=*`.
      const chosenKeys = (params.get("group") || "").split(",").filter(Boolean);
      const every = chosenKeys.includes("*");
      const open = grouping.open;
      const change = (key, on) => {
        let next = chosenKeys.filter((k) => k !== key);
        if (on) next = key === "*" ? ["*"] : [...next.filter((k) => k !== "*"), key];
        go({ group: next.join(","), offset: 0 });
      };
      clear(grouping,
        h("summary", {}, chosenKeys.length ? `Group by: ${every ? "all but seeds" : chosenKeys.join(", ")}` : "Group by"),
        h("div", { class: "panel" },
          h("label", {}, h("input", { type: "checkbox", id: "group-all", checked: every, onchange: (e) => change("*", e.target.checked) }),
            " all keys but the seeds"),
          h("fieldset", {}, h("legend", {}, "configuration keys"),
            answer.configuration.map((key) => h("label", {},
              h("input", { type: "checkbox", "data-group-key": key, checked: !every && chosenKeys.includes(key),
                           onchange: (e) => change(key, e.target.checked) }), " ", key))),
          h("p", { class: "muted" }, "A row per group: its values, n (its trials), and the mean ± standard deviation (ddof=0) of each statistic over the trials that logged it, as kleio compare --group-by prints them.")));
      grouping.open = open;
    }

    function renderGroups(answer) {
      const groups = answer.groups;
      if (!groups) { groupsBox.replaceChildren(); return; }
      const order = params.get("gsort") || "";
      const descending = order.startsWith("-"), by = order.replace(/^-/, "");
      const valueOf = (group, label) => (label === "n" ? group.n
        : groups.by.includes(label) ? group.values[label]
        : group.statistics[label] ? group.statistics[label].mean : null);
      const rows = [...groups.rows];
      if (by) {
        rows.sort((a, b) => {
          const x = valueOf(a, by), y = valueOf(b, by);
          const missing = (x === null || x === undefined) - (y === null || y === undefined);
          if (missing) return missing;  // blanks last, either way
          const c = isNumber(x) && isNumber(y) ? x - y : show(x).localeCompare(show(y));
          return descending ? -c : c;
        });
      }
      const labels = [...groups.by, "n", ...groups.statistics];
      const header = h("tr", {}, labels.map((label) => {
        const arrow = by === label ? (descending ? " ▼" : " ▲") : "";
        const numeric = label === "n" || groups.statistics.includes(label);
        return h("th", {
          class: "sortable" + (numeric ? " number" : ""), "data-key": label, title: "sort the groups by " + label,
          onclick: () => { remember("gsort", by === label && !descending ? "-" + label : label); renderGroups(shown); },
        }, breakable(label), groups.statistics.includes(label) ? h("span", { class: "summary" }, "mean ± std") : null, arrow);
      }));
      const body = rows.map((group) => h("tr", {},
        groups.by.map((key) => h("td", { "data-key": key, class: isNumber(group.values[key]) ? "number" : "" },
          group.values[key] === null ? "-" : show(group.values[key]))),
        h("td", { class: "number", "data-key": "n" }, String(group.n)),
        groups.statistics.map((label) => {
          const found = group.statistics[label] || {};
          if (!isNumber(found.mean)) return h("td", { "data-key": label }, "");
          return h("td", { class: "number", "data-key": label, "data-mean": String(found.mean), "data-std": String(found.std),
                           title: `mean ${found.mean}, std ${found.std}` }, `${number(found.mean)} ± ${number(found.std)}`);
        })));
      clear(groupsBox,
        h("h2", {}, `${groups.rows.length} group${groups.rows.length === 1 ? "" : "s"} of ${answer.total.toLocaleString()} trials`),
        h("div", { class: "scroller" }, h("table", { class: "trials groups" }, h("thead", {}, header), h("tbody", {}, body))));
    }

    function statisticChoice(answer, name) {
      // The statistic a view shows: the address's, else the sorted one, else the first
      // that is no counter (loss:last before epoch:last).
      const asked = params.get(name);
      if (answer.statistics.includes(asked)) return asked;
      const sorted = (params.get("sort") || "").split(",")[0].trim().replace(/^-/, "");
      if (answer.statistics.includes(sorted)) return sorted;
      const counters = ["epoch", "step", "iteration", "batch"];
      return answer.statistics.find((label) => !counters.includes(label.split(":")[0])) || answer.statistics[0];
    }

    function renderViews(answer) {
      const open = new Set((params.get("view") || "").split(",").filter(Boolean));
      for (const [name, button] of Object.entries(viewButtons)) {
        button.setAttribute("aria-pressed", String(open.has(name)));
        button.classList.toggle("pressed", open.has(name));
        button.onclick = () => {
          if (open.has(name)) open.delete(name); else open.add(name);
          remember("view", [...open].join(","));
          renderViews(shown);
          applyInside();
        };
      }
      viewsBox.replaceChildren();
      if (!open.size) { if (inside) { brushes.clear(); inside = null; } return; }
      const rows = answer.rows;
      const varied = variedKeys(rows, answer.configuration);
      const note = answer.total > rows.length
        ? h("p", { class: "muted" }, `Drawn from the ${rows.length} trials of this page, of ${answer.total.toLocaleString()}: `,
            h("a", { href: "#/?" + new URLSearchParams({ ...Object.fromEntries(params), limit: "1000", offset: "0" }).toString() },
              "show up to 1,000 per page"), ".")
        : null;
      if (!answer.statistics.length || !rows.length) {
        viewsBox.append(h("p", { class: "muted" }, "No statistic to draw."));
        return;
      }
      const colourKey = statisticChoice(answer, "colour");
      const scatterY = statisticChoice(answer, "sy");
      const scatterX = answer.configuration.includes(params.get("sx")) ? params.get("sx") : varied[0] || answer.configuration[0];
      const scatter = open.has("scatter") ? h("canvas", { id: "scatter-canvas" }) : null;
      const drawScatter = () => scatter && scatter.isConnected && scatterX && scatterPlot(scatter, rows, scatterX, scatterY, inside || new Set(rows.map((r) => r.id)));
      if (open.has("parallel")) {
        const select = h("select", { id: "parallel-colour" }, answer.statistics.map((label) => h("option", { value: label }, label)));
        select.value = colourKey;
        select.onchange = () => { remember("colour", select.value); renderViews(shown); applyInside(); };
        const said = h("span", { class: "muted", id: "parallel-note" });
        const canvas = h("canvas", { id: "parallel-canvas" });
        const keys = [...varied, colourKey];  // the swept keys, then what they gave
        for (const key of [...brushes.keys()]) if (!keys.includes(key)) brushes.delete(key);
        viewsBox.append(h("section", { class: "view", id: "parallel" },
          h("div", { class: "controls" }, h("strong", {}, "Parallel coordinates"),
            h("label", {}, "colour and last axis ", select), said,
            h("button", { type: "button", id: "clear-brushes", onclick: () => { brushes.clear(); renderViews(shown); applyInside(); } }, "Clear brushes")),
          note, h("div", { class: "canvas-box" }, canvas)));
        const changed = (ids) => {
          inside = brushes.size ? ids : null;
          said.textContent = brushes.size
            ? `${ids.size} of ${rows.length} trials inside the brushes (the table shows them only)`
            : "Drag along an axis to keep a range of it; click an axis to clear its range.";
          applyInside();
          drawScatter();
        };
        changed(parallelCoordinates(canvas, rows, keys, colourKey, brushes, changed));
      } else if (inside) {
        brushes.clear();
        inside = null;
      }
      if (scatter) {
        const xSelect = h("select", { id: "scatter-x" }, answer.configuration.map((key) => h("option", { value: key }, key)));
        const ySelect = h("select", { id: "scatter-y" }, answer.statistics.map((label) => h("option", { value: label }, label)));
        xSelect.value = scatterX || "";
        ySelect.value = scatterY;
        xSelect.onchange = () => { remember("sx", xSelect.value); renderViews(shown); applyInside(); };
        ySelect.onchange = () => { remember("sy", ySelect.value); renderViews(shown); applyInside(); };
        viewsBox.append(h("section", { class: "view", id: "scatter" },
          h("div", { class: "controls" }, h("strong", {}, "Scatter"), h("label", {}, "x ", xSelect), h("label", {}, "y ", ySelect)),
          open.has("parallel") ? null : note,
          scatterX ? h("div", { class: "canvas-box" }, scatter) : h("p", { class: "muted" }, "No configuration key to draw against.")));
        drawScatter();
      }
    }

    function applyInside() {
      // The table shows only the rows inside every brush of the parallel coordinates.
      let kept = 0;
      for (const tr of table.querySelectorAll("tbody tr[data-id]")) {
        tr.hidden = inside !== null && !inside.has(tr.dataset.id);
        if (!tr.hidden) kept += 1;
      }
      if (shown && shown.total) {
        const last = Math.min(shown.offset + shown.rows.length, shown.total);
        count.textContent = `${shown.offset + 1}–${last} of ${shown.total.toLocaleString()} trials` +
          (inside !== null ? ` · ${kept} inside the brushes` : "");
      }
    }

    function hide(key, hiding) {
      // Remembered in the address, as every choice of this page: a bookmark or a
      // shared link opens the same columns; drawn again without asking the server.
      if (hiding) hidden.add(key); else hidden.delete(key);
      params.delete("hide");
      for (const name of hidden) params.append("hide", name);
      history.replaceState(null, "", "#/?" + params.toString());
      renderChooser(shown);
      renderTable(shown);
    }

    function renderChooser(answer) {
      const columns = [...answer.configuration, ...answer.statistics];
      const open = chooser.open;
      const group = (title, keys) => keys.length && h("fieldset", {}, h("legend", {}, title),
        keys.map((key) => h("label", {},
          h("input", {
            type: "checkbox", checked: !hidden.has(key), "data-column": key,
            onchange: (event) => hide(key, !event.target.checked),
          }), " ", key)));
      clear(chooser,
        h("summary", {}, `Columns (${columns.filter((k) => !hidden.has(k)).length} of ${columns.length})`),
        h("div", { class: "panel" },
          group("configuration", answer.configuration),
          group("statistics", answer.statistics),
          h("p", { class: "muted" }, "The keys that differ between trials; tick “every configuration key” for the others.")));
      chooser.open = open;
    }

    function widen() {
      // Headers break after _ - . / so that the columns fit the page when they can;
      // cut values get the width the page has left, shared: a long value is cut at
      // 14em (182 px) when the columns fill the page, and later when they leave room.
      const scroller = table.querySelector(".scroller");
      if (!scroller) return;
      const grid = scroller.firstChild;
      grid.style.removeProperty("--cut");
      grid.classList.remove("wide");
      if (scroller.scrollWidth > scroller.clientWidth) {
        // It scrolls whatever is done: headers on one line rather than cut at every _
        grid.classList.add("wide");
        return;
      }
      const cut = new Set([...grid.querySelectorAll("td[data-key]")]
        .filter((cell) => cell.scrollWidth > cell.clientWidth).map((cell) => cell.dataset.key));
      const room = scroller.clientWidth - grid.offsetWidth;
      const spare = 8;  // px left unused: widths come in fractions of a pixel
      if (cut.size && room > spare) {
        const first = grid.querySelector("td[data-key]");
        const cap = parseFloat(getComputedStyle(first).maxWidth) || 182;
        grid.style.setProperty("--cut", `${Math.floor(cap + (room - spare) / cut.size)}px`);
      }
    }
    window.addEventListener("resize", widen);
    leaving.push(() => window.removeEventListener("resize", widen));

    function renderTable(answer) {
      const sorts = (params.get("sort") || "").split(",").map((s) => s.trim()).filter(Boolean);
      // Id, name (if any trial has one) and status, the configuration that tells the
      // trials apart, what they logged, then the run time: the order `kleio compare` prints.
      const named = answer.columns.includes("trial_name") ? ["trial_name"] : [];
      const labels = ["short_id", ...named, "status",
        ...answer.configuration.filter((k) => !hidden.has(k)),
        ...answer.statistics.filter((k) => !hidden.has(k)), "run_time"];
      const names = { short_id: "ID", trial_name: "name", status: "status", run_time: "run time" };
      const statistics = new Set(answer.statistics);
      const numeric = new Set(["run_time", ...labels.filter((label) => label !== "trial_name" && answer.rows.every(
        (row) => row[label] === null || row[label] === undefined || typeof row[label] === "number"))]);
      const header = h("tr", {}, h("th", { class: "pick" }, ""), labels.map((label) => {
        const sorted = sorts[0] === label ? " ▲" : sorts[0] === "-" + label ? " ▼" : "";
        const key = label === "short_id" ? "id" : label;
        if (label === "trial_name") return h("th", {}, names[label]);  // not a sort key
        // A statistic's summary on a line of its own: `samples_per_second:last` needs
        // the width of its key only, and a long key may break after _ - . /
        const colon = statistics.has(label) ? label.lastIndexOf(":") : -1;
        const heading = colon > 0
          ? [breakable(label.slice(0, colon)), h("span", { class: "summary" }, label.slice(colon), sorted)]
          : [breakable(names[label] || label), sorted];
        return h("th", {
          class: "sortable" + (label === "short_id" ? " id" : numeric.has(label) ? " number" : ""),
          title: "sort by " + key,
          "data-key": label, onclick: () => go({ sort: sorts[0] === key ? "-" + key : key, offset: 0 }),
        }, heading);
      }));
      const rows = answer.rows.map((row) => {
        const box = h("input", { type: "checkbox", checked: chosen.has(row.id), title: "select for a plot" });
        box.addEventListener("change", () => {
          if (box.checked) chosen.add(row.id); else chosen.delete(row.id);
          keepSelected(chosen);
          refreshButtons();
        });
        return h("tr", { "data-id": row.id },
          h("td", { class: "pick" }, box),
          labels.map((label) => {
            const value = row[label];
            if (label === "short_id") return h("td", { class: "id" }, trialLink(row.id, value));
            if (label === "trial_name") return h("td", {}, value ? trialLink(row.id, value) : "");
            if (label === "status") return h("td", {}, status(value));
            if (label === "run_time") return h("td", { class: "number" }, duration(value));
            const best = label in answer.best && value === answer.best[label];
            const text = show(value);
            // Cut to its column when long; whole (a number unrounded) in the title.
            return h("td", {
              class: (typeof value === "number" ? "number" : "") + (best ? " best" : ""),
              title: typeof value === "number" ? String(value) : text, "data-key": label,
            }, text + (best ? " *" : ""));
          }));
      });
      clear(table, answer.total
        ? h("div", { class: "scroller" },
          h("table", { class: "trials" }, h("thead", {}, header), h("tbody", {}, rows)))
        : h("p", { class: "muted", id: "nothing" }, (answer.nothing || "no trial matches").replace(/^./, (c) => c.toUpperCase()) + "."));
      widen();
      const last = Math.min(answer.offset + answer.rows.length, answer.total);
      count.textContent = answer.total ? `${answer.offset + 1}–${last} of ${answer.total.toLocaleString()} trials` : "";
      applyInside();
      clear(pager,
        h("button", { type: "button", disabled: answer.offset === 0, onclick: () => go({ offset: Math.max(0, answer.offset - answer.limit) }) }, "← Previous"),
        h("button", { type: "button", disabled: last >= answer.total, onclick: () => go({ offset: answer.offset + answer.limit }) }, "Next →"));
    }

    if (await load()) every(TRIALS_POLL, load);
  }

  // -- a trial's page ------------------------------------------------------------------
  function facts(pairs) {
    return h("table", { class: "facts" }, pairs.filter(Boolean).map(([label, value]) =>
      h("tr", {}, h("th", {}, label), h("td", {}, value))));
  }

  function diffView(text) {
    const pre = h("pre", { class: "diff", id: "diff" });
    for (const line of text.split("\n")) {
      const kind = line.startsWith("diff --git") ? "file"
        : line.startsWith("@@") ? "hunk"
        : line.startsWith("+") && !line.startsWith("+++") ? "add"
        : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
      pre.append(kind ? h("span", { class: kind }, line) : line, "\n");
    }
    return pre;
  }

  function configurationTable(entries) {
    if (!entries.length) return h("p", { class: "muted" }, "No configuration.");
    return h("table", { id: "configuration" },
      h("thead", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "value"), h("th", {}, "type"))),
      h("tbody", {}, entries.map((entry) => h("tr", {},
        h("td", { class: "mono" }, entry.key),
        // As `kleio info`: a value the script's parser filled in is marked.
        h("td", { class: "mono" }, entry.value, entry.default ? h("span", { class: "default" }, " (default)") : null),
        h("td", { class: "muted" }, entry.type)))));
  }

  function executionsTable(executions) {
    if (!executions.length) return h("p", { class: "muted" }, "Never run.");
    return h("table", {},
      h("thead", {}, h("tr", {}, ["#", "status", "host", "CPUs", "memory", "GPUs", "start", "duration", "exit code"].map((t) => h("th", {}, t)))),
      h("tbody", {}, executions.map((e) => {
        const host = e.host || {};
        const gpus = (host.gpus || []).map((g) => `${g.name} (${g.memory_mib} MiB)`).join(", ");
        return h("tr", {},
          h("td", {}, e.number), h("td", {}, status(e.status || "-")),
          h("td", {}, `${host.hostname || "-"} (${host.user || "-"})`),
          h("td", {}, (host.cpu || {}).count || "-"), h("td", {}, size(host.memory)),
          h("td", {}, gpus ? `${gpus}; driver ${host.gpu_driver || "-"}` : "-"),
          h("td", {}, moment(e.start)), h("td", {}, duration(e.duration)),
          h("td", {}, e.exit_code === undefined || e.exit_code === null ? "-" : e.exit_code));
      })));
  }

  function lineageView(trial) {
    const refers = trial.refers || {};
    const chain = [...trial.ancestors].reverse();
    return facts([
      ["ancestors", chain.length
        ? chain.map((a, i) => [i ? " → " : "", trialLink(a.id, a.short_id), " ", status(a.status)])
        : "-"],
      trial.parent && ["branch point", [refers.timestamp || moment(refers.time),
        ` (${refers.reason === "change" ? "code or environment changed" : "branched"})`]],
      ["children", trial.children.length
        ? trial.children.map((c, i) => [i ? ", " : "", trialLink(c.id, c.short_id), " ", status(c.status)])
        : "-"],
    ]);
  }

  function artifactsTable(trial) {
    if (!trial.artifacts.length) return h("p", { class: "muted" }, "No artifacts.");
    return h("table", { id: "artifacts" },
      h("thead", {}, h("tr", {}, ["file", "size", "logged", "attributes"].map((t) => h("th", {}, t)))),
      h("tbody", {}, trial.artifacts.map((a) => h("tr", {},
        h("td", {}, h("a", {
          href: `/api/trials/${encodeURIComponent(trial.id)}/artifacts/${encodeURIComponent(a.id)}`,
          download: a.filename,
        }, a.filename)),
        h("td", {}, size(a.size)), h("td", {}, moment(a.time)),
        h("td", { class: "mono" }, Object.keys(a.attributes || {}).length ? JSON.stringify(a.attributes) : "")))));
  }

  // -- images: one gallery per name, a slider over its steps ---------------------------
  // An image is an artifact whose metadata say kind "image" (kleio_logger.log_image); the
  // <img> loads it from the download address, which sends PNG and JPEG bytes as images.
  const IMAGE_FIELDS = ["kind", "width", "height", "mode", "format"];

  function ordered(images) {
    // By step when every image of the name has a numeric one, else by epoch, else in
    // the order they were logged.
    const byTime = (p, q) => (p.time < q.time ? -1 : p.time > q.time ? 1 : 0);
    for (const key of ["step", "epoch"]) {
      if (images.every((a) => typeof a.attributes[key] === "number")) {
        return { key, images: [...images].sort((p, q) => p.attributes[key] - q.attributes[key] || byTime(p, q)) };
      }
    }
    return { key: null, images: [...images].sort(byTime) };
  }

  function gallery(trial, name, found) {
    const { key, images } = ordered(found);
    const picture = h("img", { class: "picture", alt: name });
    const where = h("span", { class: "image-step" });
    const details = h("div", { class: "muted mono image-meta" });
    const slider = h("input", {
      type: "range", class: "image-slider", min: "0", max: String(images.length - 1), step: "1",
      value: String(images.length - 1), "aria-label": `${key || "image"} of ${name}`, hidden: images.length < 2,
    });
    const showAt = (index) => {
      const a = images[index];
      const attributes = a.attributes;
      picture.src = `/api/trials/${encodeURIComponent(trial.id)}/artifacts/${encodeURIComponent(a.id)}`;
      picture.dataset.step = key ? String(attributes[key]) : String(index);
      where.textContent = (key ? `${key} ${show(attributes[key])}` : `#${index + 1}`) + ` (${index + 1} of ${images.length})`;
      const own = Object.entries(attributes).filter(([k]) => !IMAGE_FIELDS.includes(k) && k !== key);
      clear(details, `${attributes.width}×${attributes.height} ${attributes.mode}, ${size(a.size)}, `, moment(a.time),
        own.length ? " · " + own.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ") : "");
    };
    // A small image (a 28×28 sample) is drawn larger, pixel by pixel.
    picture.addEventListener("load", () => picture.classList.toggle("small", picture.naturalWidth < 160));
    slider.addEventListener("input", () => showAt(Number(slider.value)));
    showAt(images.length - 1);
    return h("figure", { class: "gallery", "data-name": name },
      h("figcaption", {}, h("span", { class: "mono image-name" }, name), " ", where),
      h("div", { class: "frame" }, picture), slider, details);
  }

  function imageGalleries(trial) {
    const byName = new Map();
    for (const a of trial.artifacts) {
      if (!a.attributes || a.attributes.kind !== "image") continue;
      if (!byName.has(a.filename)) byName.set(a.filename, []);
      byName.get(a.filename).push(a);
    }
    if (!byName.size) return null;
    return [h("h2", {}, "Images"),
      h("div", { class: "galleries", id: "images" },
        [...byName.keys()].sort().map((name) => gallery(trial, name, byName.get(name))))];
  }

  function filesTable(files, columns) {
    return h("table", {},
      h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title)))),
      h("tbody", {}, files.map((file) => h("tr", {}, columns.map(([, read]) => h("td", { class: "mono" }, read(file)))))));
  }

  async function trialPage(id) {
    let trial;
    try {
      trial = await api("/api/trials/" + encodeURIComponent(id));
    } catch (error) {
      clear(main, errorBox(error));
      return;
    }
    const version = trial.version || {};
    const environment = trial.environment || {};
    const python = environment.python || {};
    const system = environment.os || {};
    const packages = Object.entries(environment.packages || {});
    const statisticKeys = Object.keys(trial.summaries);
    const statsChart = h("div", { class: "chart", id: "trial-chart" });
    const keyBoxes = h("div", { class: "keys" });
    const usageChart = h("div", { class: "chart", id: "usage-chart" });
    const usageBoxes = h("div", { class: "keys", id: "usage-keys" });
    const usageSection = h("section", { hidden: true, id: "usage" },
      h("h2", {}, "Resource use"), usageBoxes, usageChart);
    const output = h("pre", { class: "output", id: "output" });
    const withStderr = h("input", { type: "checkbox", id: "with-stderr" });
    const notes = trial.notes || [];

    clear(main,
      h("h1", {}, "Trial ", h("span", { class: "mono", id: "trial-id" }, trial.short_id),
        trial.name ? [" ", h("span", { id: "trial-name" }, trial.name)] : "", " ", status(trial.status)),
      h("p", { class: "mono", id: "command" }, trial.command),
      h("div", { class: "columns" },
        h("div", {},
          h("h2", {}, "Trial"),
          facts([
            ["id", h("span", { class: "mono" }, trial.id)],
            trial.name ? ["name", trial.name] : null,
            ["project", trial.project || "-"],
            ["created", moment(trial.created)],
            ["run time", duration(trial.run_time)],
            ["folder", h("span", { class: "mono" }, trial.cwd || "-")],
            ["tags", (trial.tags || []).length ? trial.tags.map((t) => h("span", { class: "tag" }, t)) : "-"],
          ]),
          h("h2", {}, "Configuration"),
          configurationTable(trial.configuration_entries),
          h("h2", {}, "Lineage"),
          lineageView(trial)),
        h("div", {},
          h("h2", {}, "Code version"),
          version.type === "git"
            ? facts([
              ["commit", h("span", { class: "mono" }, version.commit || "(no commit yet)")],
              ["branch", version.branch || "(detached)"],
              ["dirty", version.dirty ? "yes" : "no"],
              (version.changed_files || []).length && ["changed", version.changed_files.join(", ")],
              (version.untracked || []).length && ["untracked", version.untracked.slice(0, 20).join(", ")],
              ...Object.entries(version.remotes || {}).map(([name, url]) => ["remote " + name, url]),
            ])
            : facts([["script", version.path || "-"], ["sha256", version.sha256 || "-"]]),
          h("h2", {}, "Environment"),
          facts([
            ["python", `${python.implementation || ""} ${python.version || ""}`],
            ["system", `${system.system || ""} ${system.release || ""} ${system.machine || ""}`],
            ["packages", packages.length
              ? h("details", {}, h("summary", {}, `${packages.length} installed`),
                h("div", { class: "mono" }, packages.map(([n, v]) => h("div", {}, `${n} ${v}`))))
              : "-"],
          ]),
          h("h2", {}, "Notes"),
          notes.length ? h("ul", { id: "notes" }, notes.map((n) => h("li", {}, h("span", { class: "muted" }, moment(n.time)), " ", n.text,
            n.edited ? h("span", { class: "muted" }, " (edited)") : "")))
            : h("p", { class: "muted" }, "No notes."))),
      h("h2", {}, "Statistics"),
      statisticKeys.length || ACTIVE.includes(trial.status)
        ? [h("table", {}, h("thead", {}, h("tr", {}, ["key", "last", "min", "max", "count"].map((t) => h("th", {}, t)))),
            h("tbody", {}, statisticKeys.map((key) => {
              const s = trial.summaries[key];
              return h("tr", {}, h("td", { class: "mono" }, key), [s.last, s.min, s.max, s.count].map((v) => h("td", { class: "number" }, show(v))));
            }))),
          keyBoxes, statsChart]
        : h("p", { class: "muted" }, "No statistics."),
      usageSection,
      imageGalleries(trial),
      h("h2", {}, "Output"),
      h("div", { class: "toolbar" }, h("label", {}, withStderr, " stderr too"),
        h("span", { class: "muted", id: "output-note" })),
      output,
      trial.diff ? [h("h2", {}, "Uncommitted changes"), diffView(trial.diff),
        trial.diff_truncated ? h("p", { class: "muted" }, "(cut: the whole diff is in `kleio info --json`)") : null] : null,
      h("h2", {}, "Executions"),
      executionsTable(trial.executions),
      h("h2", {}, "Artifacts"),
      artifactsTable(trial),
      (trial.resources || []).length ? [h("h2", {}, "Resources"),
        filesTable(trial.resources, [["path", (r) => r.path], ["size", (r) => size(r.size)], ["sha256", (r) => String(r.sha256 || "").slice(0, 16)]])] : null,
      (trial.outputs || []).length ? [h("h2", {}, "Files it wrote"),
        filesTable(trial.outputs, [["path", (r) => r.path], ["size", (r) => size(r.size)], ["execution", (r) => "#" + r.execution]])] : null);

    // Statistics against the record number, resource use against time; a running
    // trial's keys and curves are read again as it logs.
    let running = ACTIVE.includes(trial.status);
    if (statisticKeys.length || running) {
      const numeric = statisticKeys.filter((k) => trial.summaries[k].min !== null);
      await liveCurves(trial.id, { kind: "statistic", x: "step", keys: numeric, running, chartNode: statsChart, boxNode: keyBoxes });
    }
    await liveCurves(trial.id, {
      kind: "usage", x: "time", keys: null, running, chartNode: usageChart, boxNode: usageBoxes,
      prefer: ["cpu_percent", "rss"], shown: usageSection,
    });

    // Output: its end, then what follows while it runs.
    let cursor = "";
    const note = document.getElementById("output-note");
    const write = (pieces) => {
      const atBottom = output.scrollHeight - output.scrollTop - output.clientHeight < 30;
      for (const piece of pieces) {
        output.append(piece.kind === "stderr" ? h("span", { class: "stderr" }, piece.text) : piece.text);
      }
      if (atBottom) output.scrollTop = output.scrollHeight;
    };
    const openOutput = async () => {
      const answer = await api(`/api/trials/${encodeURIComponent(trial.id)}/output`, { stderr: withStderr.checked ? 1 : "" });
      output.replaceChildren();
      write(answer.pieces);
      cursor = answer.cursor;
      note.textContent = answer.truncated ? "(the end of the output; `kleio cat` prints all of it)" : "";
      if (!answer.pieces.length) output.append(h("span", { class: "muted" }, "(no output)"));
      output.scrollTop = output.scrollHeight;
      return answer.status;
    };
    withStderr.addEventListener("change", openOutput);
    try {
      const now = await openOutput();
      running = running || ACTIVE.includes(now);
    } catch (error) {
      clear(output, String(error.message));
    }
    if (running) {
      every(POLL, async () => {
        const answer = await api(`/api/trials/${encodeURIComponent(trial.id)}/output`, { stderr: withStderr.checked ? 1 : "", cursor });
        if (answer.pieces.length && output.querySelector(".muted")) output.replaceChildren();
        write(answer.pieces);
        cursor = answer.cursor;
      });
    }
  }

  // -- the plot page -------------------------------------------------------------------
  async function plotPage(params) {
    const trials = (params.get("trials") || "").split(",").map((s) => s.trim()).filter(Boolean);
    if (!trials.length) {
      clear(main, h("h1", {}, "Plot"),
        h("p", {}, "Select trials in the ", h("a", { href: "#/" }, "trials list"), " and press “Plot selected”."));
      return;
    }
    let keys;
    try {
      keys = await api("/api/keys", { trials: trials.join(",") });
    } catch (error) {
      clear(main, errorBox(error));
      return;
    }
    const wanted = new Set((params.get("y") || "").split(",").filter((k) => keys.statistics.includes(k)));
    if (!wanted.size && keys.statistics.length) wanted.add(firstKey(keys.statistics));
    const xSelect = h("select", { id: "x-key" }, keys.x.map((k) => h("option", { value: k }, k)));
    // No x asked for: the server's choice (epoch when every record drawn has one, else step).
    let xChosen = keys.x.includes(params.get("x")) ? params.get("x") : null;
    xSelect.value = xChosen || "step";
    const logBox = h("input", { type: "checkbox", id: "log-scale", checked: params.get("log") === "1" });
    const smoothing = h("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: params.get("smooth") || "0" });
    const smoothText = h("span", { class: "mono" }, number(parseFloat(smoothing.value)));
    const message = h("div");
    const area = h("div", { class: "chart", id: "plot-chart" });
    // The range of x zoomed into (null: the whole curves), asked of the server.
    let xRange = null;
    const view = chart(area, { height: 420, onZoom: (range) => { xRange = range; redraw(); } });

    function remember() {
      const next = new URLSearchParams({ trials: trials.join(","), y: [...wanted].join(",") });
      if (xChosen) next.set("x", xChosen);
      if (logBox.checked) next.set("log", "1");
      if (parseFloat(smoothing.value) > 0) next.set("smooth", smoothing.value);
      history.replaceState(null, "", "#/plot?" + next.toString());
    }

    let running = false;
    async function redraw() {
      remember();
      if (!wanted.size) { view.update({ x: xSelect.value, curves: [] }, false); return; }
      try {
        const answer = await api("/api/series", {
          trials: trials.join(","), y: [...wanted].join(","), x: xChosen,
          smooth: smoothing.value, points: Math.round(Math.max(400, area.clientWidth || 1000)),
          x_min: xRange ? xRange[0] : null, x_max: xRange ? xRange[1] : null,
        });
        xSelect.value = answer.x;
        const averaged = answer.curves.filter((c) => c.per_x > 1);
        clear(message,
          answer.missing.length
            ? h("p", { class: "muted" }, "Not logged: " + answer.missing.map((m) => `${m.key} by ${m.short_id}`).join(", "))
            : null,
          averaged.length
            ? h("p", { class: "muted", id: "averaged" }, `${[...new Set(averaged.map((c) => c.key))].join(", ")}: up to ` +
                `${Math.max(...averaged.map((c) => c.per_x))} values at one ${answer.x}, drawn as their mean (x step draws every value)`)
            : null);
        view.update(answer, logBox.checked, xRange !== null);
        area.dataset.range = xRange ? xRange.join(",") : "";
        running = answer.curves.some((c) => ACTIVE.includes(c.status));
      } catch (error) {
        clear(message, errorBox(error));
      }
    }

    clear(main,
      h("h1", {}, "Plot"),
      h("p", {}, trials.map((t, i) => [i ? ", " : "", trialLink(t, t.slice(0, 7))])),
      h("div", { class: "keys", id: "y-keys" }, keys.statistics.map((key) => {
        const box = h("input", { type: "checkbox", checked: wanted.has(key), "data-key": key });
        box.addEventListener("change", () => { if (box.checked) wanted.add(key); else wanted.delete(key); redraw(); });
        return h("label", {}, box, " ", key);
      })),
      h("div", { class: "controls" },
        h("label", {}, "x ", xSelect),
        h("label", {}, logBox, " log scale"),
        h("label", {}, "smoothing ", smoothing, " ", smoothText)),
      message, area);
    xSelect.addEventListener("change", () => { xChosen = xSelect.value; xRange = null; redraw(); });
    logBox.addEventListener("change", redraw);
    smoothing.addEventListener("input", () => { smoothText.textContent = number(parseFloat(smoothing.value)); });
    smoothing.addEventListener("change", redraw);
    await redraw();
    every(POLL, async () => { if (running) await redraw(); });
  }

  // -- pages ---------------------------------------------------------------------------
  async function route() {
    for (const stop of leaving) stop();
    leaving = [];
    delete document.body.dataset.ready;
    const [path, query] = (location.hash.slice(1) || "/").split("?");
    const params = new URLSearchParams(query || "");
    document.getElementById("nav-trials").classList.toggle("here", path === "/");
    document.querySelector("#zone option[value=local]").textContent = "local: " + localZone(new Date());
    try {
      if (path.startsWith("/trial/")) await trialPage(decodeURIComponent(path.slice("/trial/".length)));
      else if (path === "/plot") await plotPage(params);
      else await trialsPage(params);
    } catch (error) {
      clear(main, errorBox(error));
    }
    document.body.dataset.ready = path;  // for tests and screenshots: the page is drawn
  }

  const zoneChoice = document.getElementById("zone");
  zoneChoice.value = zone();
  zoneChoice.addEventListener("change", () => {
    try { localStorage.setItem(ZONE, zoneChoice.value); } catch (error) { /* this page only */ }
    route();
  });
  window.addEventListener("hashchange", route);
  api("/api/info").then((info) => {
    document.getElementById("database").textContent = `${info.database} · kleio ${info.version}`;
  }).catch(() => {});
  route();
})();
