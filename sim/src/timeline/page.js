// Draws the timeline from the JSON block into the SVG: lanes on a
// virtual-time axis, zoom (wheel, buttons) and pan (drag), details on click.
// Every text goes in through textContent: the data can never become markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var svg = document.getElementById("chart");
  var NS = svg.namespaceURI;
  var LABEL_W = 200, AXIS_H = 26, ROW_H = 18, LANE_PAD = 5, FLAG_H = 18;
  // Marks' flags take up to three rows, so marks close in time stay readable.
  var FLAG_ROWS = Math.max(1, Math.min(3, data.marks.length));
  var MARK_H = FLAG_H * FLAG_ROWS;
  var full = { t0: 0, t1: Math.max(data.end_ms, 1000) * 1.06 };
  var view = { t0: full.t0, t1: full.t1 };
  // `#view=A,B` (seconds) opens on that window.
  var asked = /view=([0-9.]+),([0-9.]+)/.exec(location.hash);
  if (asked && Number(asked[2]) > Number(asked[1])) {
    view = { t0: Number(asked[1]) * 1000, t1: Number(asked[2]) * 1000 };
  }
  var width = 800;
  var placed = []; // { node, item, y, lane }
  var marks = [];

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) { node.setAttribute(key, attrs[key]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function secs(ms) { return (ms / 1000).toFixed(3) + "s"; }

  function x(ms) { return LABEL_W + (ms - view.t0) / (view.t1 - view.t0) * (width - LABEL_W); }

  // The lanes' vertical layout.
  var top = AXIS_H + MARK_H;
  var laneTops = data.lanes.map(function (lane) {
    var y = top;
    top += lane.rows * ROW_H + 2 * LANE_PAD;
    return y;
  });
  var height = top + 4;

  var back = el("g", {}, svg);
  var grid = el("g", {}, svg);
  var clip = el("clipPath", { id: "plot" }, el("defs", {}, svg));
  var clipRect = el("rect", { x: LABEL_W, y: 0, height: height }, clip);
  var plot = el("g", { "clip-path": "url(#plot)" }, svg);
  // Item labels above every bar and tick, so a tick never hides a label.
  var itemLabels = el("g", { "class": "item-labels", "clip-path": "url(#plot)" }, svg);
  var labels = el("g", {}, svg);

  data.lanes.forEach(function (lane, i) {
    var h = lane.rows * ROW_H + 2 * LANE_PAD;
    var g = el("g", { "class": "lane", "data-lane-id": lane.id }, back);
    el("rect", { "class": "lane-bg" + (i % 2 ? " odd" : ""), x: 0, y: laneTops[i], width: 10000, height: h }, g);
    var text = el("text", { "class": "lane-label", x: 8, y: laneTops[i] + LANE_PAD + 13 }, labels);
    // A long label is cut to the label column; hovering shows it whole.
    text.textContent = lane.label.length > 30 ? lane.label.slice(0, 29) + "\u2026" : lane.label;
    el("title", {}, text).textContent = lane.label;
    lane.items.forEach(function (item) {
      var span = item.end_ms !== undefined;
      var node = el("g", {
        "class": "item " + (span ? "span" : "tick") + " kind-" + item.kind + " tone-" + item.tone,
        "data-kind": item.kind,
        "data-lane": lane.id
      }, plot);
      var y = laneTops[i] + LANE_PAD + item.row * ROW_H;
      var rect = el("rect", { y: y + 2, height: ROW_H - 4 }, node);
      var text = el("text", { y: y + 13 }, itemLabels);
      text.textContent = item.label;
      el("title", {}, node).textContent = hover(item);
      node.addEventListener("click", function () { select(node, item.label, item, lane.label); });
      placed.push({ node: node, rect: rect, text: text, item: item, lane: lane.id });
    });
  });

  data.marks.forEach(function (mark, i) {
    var g = el("g", { "class": "mark", "data-mark": String(i) }, plot);
    el("line", { y1: AXIS_H, y2: height }, g);
    var flagY = AXIS_H + (i % FLAG_ROWS) * FLAG_H;
    el("rect", { y: flagY, height: FLAG_H - 2 }, g);
    el("text", { y: flagY + 12 }, g).textContent = "\u2716 " + mark.title;
    el("title", {}, g).textContent = mark.title + " at " + secs(mark.at_ms) + ": " + mark.message;
    g.addEventListener("click", function () { showMark(g, mark); });
    marks.push({ node: g, mark: mark });
  });

  function hover(item) {
    var when = item.end_ms !== undefined
      ? secs(item.start_ms) + " \u2192 " + secs(item.end_ms) + " (" + ((item.end_ms - item.start_ms) / 1000).toFixed(1) + "s)"
      : secs(item.start_ms);
    var lines = [item.label + "  " + when];
    item.details.forEach(function (d) {
      var text = d.text.length > 400 ? d.text.slice(0, 400) + "\u2026" : d.text;
      lines.push(d.label + ": " + text);
    });
    return lines.join("\n");
  }

  // The details panel.
  var panel = document.getElementById("details");
  var selected = null;
  function clearPanel(title) {
    while (panel.firstChild) { panel.removeChild(panel.firstChild); }
    panel.hidden = false;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      panel.hidden = true;
      if (selected) { selected.classList.remove("selected"); selected = null; }
    });
    panel.appendChild(close);
    var h = document.createElement("h2");
    h.textContent = title;
    panel.appendChild(h);
  }
  function section(label, text) {
    var h = document.createElement("h3");
    h.textContent = label;
    var pre = document.createElement("pre");
    pre.textContent = text;
    panel.appendChild(h);
    panel.appendChild(pre);
  }
  function mark(node) {
    if (selected) { selected.classList.remove("selected"); }
    selected = node;
    node.classList.add("selected");
  }
  function select(node, title, item, laneLabel) {
    mark(node);
    clearPanel(title);
    section("lane", laneLabel);
    section("time", item.end_ms !== undefined ? secs(item.start_ms) + " \u2192 " + secs(item.end_ms) : secs(item.start_ms));
    item.details.forEach(function (d) { section(d.label, d.text); });
  }
  function showMark(node, m) {
    mark(node);
    clearPanel(m.title);
    section("time", secs(m.at_ms));
    section("what happened", m.message);
  }

  // Axis ticks at a round step (1-2-5 below a second, then whole
  // seconds and minutes), about every 90 px.
  var STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000,
    60000, 120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
  function drawAxis() {
    while (grid.firstChild) { grid.removeChild(grid.firstChild); }
    var raw = (view.t1 - view.t0) / Math.max(1, (width - LABEL_W) / 90);
    var step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) { if (STEPS[i] >= raw) { step = STEPS[i]; break; } }
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var px = x(t);
      el("line", { "class": "grid", x1: px, x2: px, y1: AXIS_H - 6, y2: height }, grid);
      if (px < width - 40) {
        var text = el("text", { "class": "axis-label", x: px + 2, y: AXIS_H - 10 }, grid);
        text.textContent = label(t, step);
      }
    }
  }
  function label(ms, step) {
    var s = ms / 1000;
    var digits = step >= 1000 ? 0 : step >= 100 ? 1 : step >= 10 ? 2 : 3;
    if (s >= 60) {
      var m = Math.floor(s / 60), rest = (s - 60 * m).toFixed(digits);
      return m + "m" + (Number(rest) < 10 ? "0" : "") + rest + "s";
    }
    return s.toFixed(digits) + "s";
  }

  // Places every item for the current view; a label shows when it fits.
  function layout() {
    width = Math.max(600, svg.parentNode.clientWidth);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    clipRect.setAttribute("width", Math.max(0, width - LABEL_W));
    drawAxis();
    var rows = {};
    placed.forEach(function (p) {
      var item = p.item, rect = p.rect, text = p.text;
      var x0 = x(item.start_ms), w;
      if (item.end_ms !== undefined) {
        w = Math.max(2, x(item.end_ms) - x0);
      } else {
        x0 -= 2;
        w = 4;
      }
      rect.setAttribute("x", x0);
      rect.setAttribute("width", w);
      var key = p.lane + "/" + item.row;
      (rows[key] = rows[key] || []).push({ x: x0, w: w, text: text, span: item.end_ms !== undefined });
    });
    // A label goes inside its bar if it fits, else right of its bar or
    // tick if it covers no other item and no label placed before it, else
    // nowhere (hover and click still tell).
    Object.keys(rows).forEach(function (key) {
      var row = rows[key].sort(function (a, b) { return a.x - b.x; });
      var taken = [];
      function free(from, to, self) {
        var clear = function (a) { return to <= a[0] || from >= a[1]; };
        return row.every(function (o) { return o === self || clear([o.x, o.x + o.w]); }) &&
          taken.every(clear);
      }
      row.forEach(function (r) {
        var need = r.text.textContent.length * 6.2 + 4;
        var inside = r.span && r.w >= need && taken.every(function (a) { return r.x + need <= a[0] || r.x >= a[1]; });
        var from = r.x + r.w + 2;
        var outside = !inside && from + need <= width && free(from, from + need, r);
        var at = inside ? r.x + 3 : from + 1;
        r.text.style.display = inside || outside ? "" : "none";
        r.text.setAttribute("x", at);
        r.text.setAttribute("class", inside ? "inside" : "outside");
        if (inside || outside) { taken.push([at - 1, at + need]); }
      });
    });
    marks.forEach(function (m) {
      var px = x(m.mark.at_ms);
      var line = m.node.firstChild, flag = line.nextSibling, text = flag.nextSibling;
      line.setAttribute("x1", px);
      line.setAttribute("x2", px);
      // The flag hangs right of its line, or left near the right edge.
      var w = text.textContent.length * 6.6 + 8;
      var left = px + w > width ? px - w : px;
      flag.setAttribute("x", left);
      flag.setAttribute("width", w);
      text.setAttribute("x", left + 4);
    });
  }

  // Zoom by `factor` around time `at`; clamp to the run.
  function zoom(factor, at) {
    var span = Math.min(full.t1 - full.t0, Math.max(10, (view.t1 - view.t0) * factor));
    var t0 = at - (at - view.t0) * span / (view.t1 - view.t0);
    setView(t0, t0 + span);
  }
  function setView(t0, t1) {
    var span = t1 - t0;
    if (t0 < full.t0) { t0 = full.t0; }
    if (t0 + span > full.t1) { t0 = full.t1 - span; }
    view.t0 = t0;
    view.t1 = t0 + span;
    layout();
  }
  function timeAt(clientX) {
    var box = svg.getBoundingClientRect();
    var px = Math.max(LABEL_W, clientX - box.left);
    return view.t0 + (px - LABEL_W) / (width - LABEL_W) * (view.t1 - view.t0);
  }

  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    zoom(e.deltaY < 0 ? 1 / 1.25 : 1.25, timeAt(e.clientX));
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false };
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) { return; }
    var dx = e.clientX - drag.x;
    if (Math.abs(dx) > 3) { drag.moved = true; svg.classList.add("dragging"); }
    if (drag.moved) {
      var dt = dx / (width - LABEL_W) * (drag.t1 - drag.t0);
      setView(drag.t0 - dt, drag.t1 - dt);
    }
  });
  window.addEventListener("pointerup", function () { drag = null; svg.classList.remove("dragging"); });
  svg.addEventListener("dblclick", function () { setView(full.t0, full.t1); });
  function middle() { return (view.t0 + view.t1) / 2; }
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(1 / 1.5, middle()); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(1.5, middle()); });
  document.getElementById("fit").addEventListener("click", function () { setView(full.t0, full.t1); });
  window.addEventListener("resize", layout);

  // The header's list of what broke: a click centres the view on it.
  Array.prototype.forEach.call(document.querySelectorAll("#marks li"), function (li, i) {
    li.addEventListener("click", function () {
      var m = marks[i];
      if (!m) { return; }
      var span = Math.min(view.t1 - view.t0, 60000);
      setView(m.mark.at_ms - span / 2, m.mark.at_ms + span / 2);
      showMark(m.node, m.mark);
    });
  });

  layout();
  document.body.setAttribute("data-rendered", "yes");
})();
