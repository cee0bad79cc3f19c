// mpanalyze report: the stage × query mask viewer. Hand-written, no
// library: it inflates the payload (DecompressionStream "deflate-raw"),
// then draws each query's bit-packed mask over the image on a canvas.
// The payload layout is documented in report/html.go.
(function () {
  "use strict";

  // Okabe–Ito colours (plots.Palette), one per row in turn.
  var ROW_COLORS = [[0xD5, 0x5E, 0x00], [0x00, 0x72, 0xB2], [0x00, 0x9E, 0x73], [0xCC, 0x79, 0xA7], [0xE6, 0x9F, 0x00], [0x56, 0xB4, 0xE9]];
  var GT_COLOR = [0x20, 0x20, 0x20];

  var app = document.getElementById("viewer-app");
  var V = null, BITS = null, IMAGES = [];
  var state = { models: [], ckpt: 0, image: 0, stage: 0, sort: "query", unmatched: true, attn: false, gtline: false, sel: {} };

  function h(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null) continue;
        if (k === "text") e.textContent = attrs[k];
        else if (k === "class") e.className = attrs[k];
        else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
        else e.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null) continue;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  function layers(n) { return n + (n === 1 ? " layer" : " layers"); }
  function pct(m) { return m < 0 ? "–" : (m / 10).toFixed(1) + " %"; }
  // pct0 writes thousandths as a whole percentage, except just below 50 %
  // (shown bold as low), which keeps its decimal so as not to read "50".
  function pct0(m) { return m < 0 ? "–" : m >= 495 && m < 500 ? (m / 10).toFixed(1) : String(Math.round(m / 10)); }
  function className(c) {
    if (c === V.numClasses) return "no object";
    var n = V.classes[c];
    return n ? n : "class " + c;
  }

  // --- payload ------------------------------------------------------------
  function load() {
    var b64 = document.getElementById("viewer-data").textContent.trim();
    var raw;
    if (Uint8Array.fromBase64) {
      raw = Uint8Array.fromBase64(b64);
    } else {
      var bin = atob(b64);
      raw = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) raw[i] = bin.charCodeAt(i);
    }
    var stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Response(stream).arrayBuffer().then(function (ab) {
      var buf = new Uint8Array(ab);
      var n = (buf[0] | buf[1] << 8 | buf[2] << 16 | buf[3] << 24) >>> 0;
      V = JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + n)));
      performance.mark("viewer-inflated");
      BITS = buf.subarray(4 + n);
      V.panels.forEach(function (p) {
        p.S = p.layers.length;
        p.bytes = (p.h * p.w + 7) >> 3;
      });
      IMAGES = V.images.map(function () { return undefined; });
      // The first image before the viewer starts; the others after it,
      // one at a time.
      return loadImage(0);
    });
  }

  // loadImage decodes image i (IMAGES[i]: undefined while loading, null
  // when there is none); when it is the one shown, its cells are painted
  // again.
  var loading = {};
  function loadImage(i) {
    if (i >= V.images.length || IMAGES[i] !== undefined) return Promise.resolve();
    if (loading[i]) return loading[i];
    var src = V.images[i].src;
    if (!src) { IMAGES[i] = null; return Promise.resolve(); }
    return loading[i] = new Promise(function (ok) {
      var img = new Image();
      img.onload = function () { IMAGES[i] = img; ok(); };
      img.onerror = function () { IMAGES[i] = null; ok(); };
      img.src = src;
    }).then(function () {
      if (app.getAttribute("data-state") === "ready" && i === state.image) { bump(); visible.forEach(paint); select(); }
    });
  }

  function loadRest(i) {
    if (i < V.images.length) loadImage(i).then(function () { loadRest(i + 1); });
  }

  // --- drawing ------------------------------------------------------------
  // Cells are composed pixel by pixel into one ImageData each: the washed
  // image, the mask (nearest neighbour from the mask resolution) filled at
  // 55 % and its boundary opaque, the attention shading, the GT outline.
  var baseCache = {};
  // base returns the RGBA pixels of the image washed out (or neutral
  // grey), size × size.
  function base(imgIdx, size) {
    var key = imgIdx + ":" + size;
    if (baseCache[key]) return baseCache[key];
    if (IMAGES[imgIdx] === undefined) loadImage(imgIdx); // painted again when loaded
    var c = document.createElement("canvas");
    c.width = c.height = size;
    var x = c.getContext("2d", { willReadFrequently: true });
    var img = IMAGES[imgIdx];
    if (img) {
      x.drawImage(img, 0, 0, size, size);
      x.fillStyle = "rgba(255,255,255,0.45)";
    } else {
      x.fillStyle = "#c8c8c8";
    }
    x.fillRect(0, 0, size, size);
    var px = x.getImageData(0, 0, size, size).data;
    if (IMAGES[imgIdx] !== undefined) baseCache[key] = px;
    return px;
  }

  // unpack returns a h×w mask at off as bytes: 0 outside, 1 inside, 2 on
  // its boundary (inside, with a 4-neighbour outside or at the edge).
  function unpack(off, hh, ww) {
    var m = new Uint8Array(hh * ww), i, x, y;
    for (i = 0; i < hh * ww; i++) m[i] = (BITS[off + (i >> 3)] >> (i & 7)) & 1;
    for (y = 0; y < hh; y++) {
      for (x = 0; x < ww; x++) {
        i = y * ww + x;
        if (m[i] && (x === 0 || y === 0 || x === ww - 1 || y === hh - 1 || !m[i - 1] || !m[i + 1] || !m[i - ww] || !m[i + ww])) m[i] = 2;
      }
    }
    return m;
  }

  function maskOff(p, s, q) { return p.masks + (s * p.q + q) * p.bytes; }

  // drawCell draws query q of panel p at stage s (s = -1: its GT segment)
  // in colour rgb.
  function drawCell(canvas, p, s, q, rgb) {
    var size = canvas.width, ctx = canvas.getContext("2d");
    var id = ctx.createImageData(size, size), d = id.data;
    d.set(base(p.i, size));
    var g = p.finalGT[q];
    var m = null, gt = null, at = null, ah = 0, aw = 0;
    if (s < 0) {
      if (g < 0) { ctx.putImageData(id, 0, 0); return; }
      m = unpack(p.gt[g].off, p.h, p.w);
      rgb = GT_COLOR;
    } else {
      m = unpack(maskOff(p, s, q), p.h, p.w);
      var a = p.attn[s];
      if (state.attn && a) {
        ah = a.h; aw = a.w;
        at = unpack(a.off + q * ((ah * aw + 7) >> 3), ah, aw);
      }
      if (state.gtline && g >= 0) gt = unpack(p.gt[g].off, p.h, p.w);
    }
    var r = rgb[0], gg = rgb[1], b = rgb[2];
    for (var y = 0; y < size; y++) {
      var my = (y * p.h / size) | 0, ay = (y * ah / size) | 0;
      for (var x = 0; x < size; x++) {
        var mi = my * p.w + ((x * p.w / size) | 0), k = 4 * (y * size + x);
        if (at && at[ay * aw + ((x * aw / size) | 0)]) {
          d[k] = d[k] * 0.55; d[k + 1] = d[k + 1] * 0.55; d[k + 2] = d[k + 2] * 0.55;
        }
        var v = m[mi];
        if (v === 2) {
          d[k] = r; d[k + 1] = gg; d[k + 2] = b;
        } else if (v === 1) {
          d[k] = 0.45 * d[k] + 0.55 * r; d[k + 1] = 0.45 * d[k + 1] + 0.55 * gg; d[k + 2] = 0.45 * d[k + 2] + 0.55 * b;
        }
        if (gt && gt[mi] === 2) { d[k] = GT_COLOR[0]; d[k + 1] = GT_COLOR[1]; d[k + 2] = GT_COLOR[2]; }
      }
    }
    ctx.putImageData(id, 0, 0);
  }

  // Cells are painted when they come near the viewport (an
  // IntersectionObserver), so a grid of 100 queries costs what the visible
  // rows cost. version changes whenever what a cell shows does.
  var version = 0, visible = new Set();
  function bump() { version++; app.setAttribute("data-version", version); }
  var io = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting) { visible.add(e.target); paint(e.target); } else visible.delete(e.target);
    });
  }, { rootMargin: "400px" });

  function paint(cv) {
    if (cv._v === version) return;
    drawCell(cv, cv._p, cv._s, cv._q, cv._rgb);
    cv._v = version;
    cv.setAttribute("data-drawn", version);
  }

  // lazyCanvas returns a cell canvas that paints itself when visible.
  function lazyCanvas(p, s, q, rgb) {
    var cv = h("canvas", { width: cellPx, height: cellPx, "aria-hidden": "true" });
    cv._p = p; cv._s = s; cv._q = q; cv._rgb = rgb;
    io.observe(cv);
    return cv;
  }

  // --- controls -----------------------------------------------------------
  function panelOf(m) {
    for (var k = 0; k < V.panels.length; k++) {
      var p = V.panels[k];
      if (p.m === m && p.c === state.ckpt && p.i === state.image) return p;
    }
    return null;
  }

  function stagesOf() {
    var S = 0;
    state.models.forEach(function (m) { var p = panelOf(m); if (p) S = Math.max(S, p.S); });
    return S;
  }

  function controls() {
    var f = h("div", { "class": "controls", role: "group", "aria-label": "Viewer controls" });
    var mf = h("fieldset", null, h("legend", { text: "Models" }));
    V.models.forEach(function (m, i) {
      var cb = h("input", { type: "checkbox", id: "vm-" + i, "data-model": i, onchange: function () {
        var on = [];
        V.models.forEach(function (_, j) { if (document.getElementById("vm-" + j).checked) on.push(j); });
        state.models = on;
        render();
      }});
      cb.checked = state.models.indexOf(i) >= 0;
      mf.appendChild(h("label", { "for": "vm-" + i }, cb, " " + m.name + (V.models.some(function (o, j) { return j !== i && o.name === m.name; }) ? " seed " + m.seed : "")));
    });
    f.appendChild(mf);

    var cf = h("fieldset", null, h("legend", { text: "Checkpoint" }));
    var cs = h("select", { id: "v-ckpt", "aria-label": "Checkpoint", onchange: function (e) { state.ckpt = +e.target.value; render(); } });
    V.checkpoints.forEach(function (c, i) { var o = h("option", { value: i, text: c.label }); if (i === state.ckpt) o.selected = true; cs.appendChild(o); });
    cf.appendChild(cs);
    f.appendChild(cf);

    var imf = h("fieldset", null, h("legend", { text: "Image" }));
    var is = h("select", { id: "v-image", "aria-label": "Image", onchange: function (e) { state.image = +e.target.value; state.sel = {}; render(); } });
    V.images.forEach(function (im, i) { var o = h("option", { value: i, text: (i + 1) + " / " + V.images.length + " (dataset index " + im.index + ")" }); if (i === state.image) o.selected = true; is.appendChild(o); });
    imf.appendChild(h("div", { "class": "imgnav" },
      h("button", { type: "button", id: "v-prev", "aria-label": "Previous image", onclick: function () { moveImage(-1); } }, "◀"),
      is,
      h("button", { type: "button", id: "v-next", "aria-label": "Next image", onclick: function () { moveImage(1); } }, "▶")));
    f.appendChild(imf);

    var sf = h("fieldset", null, h("legend", { text: "Rows (matched queries first)" }));
    var so = h("select", { id: "v-sort", "aria-label": "Order of the rows", onchange: function (e) { state.sort = e.target.value; render(); } });
    [["query", "by query"], ["mean", "by mean consecutive IoU, lowest first"], ["stage", "by IoU at the selected stage, lowest first"]].forEach(function (o) {
      var op = h("option", { value: o[0], text: o[1] }); if (o[0] === state.sort) op.selected = true; so.appendChild(op);
    });
    sf.appendChild(so);
    f.appendChild(sf);

    var of = h("fieldset", null, h("legend", { text: "Show" }));
    [["attn", "attention mask of the next layer (dark = blocked)"], ["gtline", "GT outline"], ["unmatched", "unmatched queries"]].forEach(function (o) {
      var cb = h("input", { type: "checkbox", id: "v-" + o[0], onchange: function (e) {
        state[o[0]] = e.target.checked;
        if (o[0] === "unmatched") { render(); return; }
        bump();
        visible.forEach(paint);
        select();
      } });
      cb.checked = state[o[0]];
      of.appendChild(h("label", { "for": "v-" + o[0] }, cb, " " + o[1]));
    });
    f.appendChild(of);
    return f;
  }

  function moveImage(d) {
    state.image = (state.image + d + V.images.length) % V.images.length;
    state.sel = {};
    document.getElementById("v-image").value = state.image;
    render();
  }

  function moveStage(d) {
    var S = stagesOf();
    if (!S) return;
    setStage(Math.max(0, Math.min(S - 1, state.stage + d)));
  }

  // setStage selects a stage; rows sorted by the IoU at the selected stage
  // are sorted again.
  function setStage(s) {
    state.stage = s;
    if (state.sort === "stage") render(); else select();
  }

  // --- the grid -------------------------------------------------------------
  function rowOrder(p) {
    var qs = [];
    for (var q = 0; q < p.q; q++) qs.push(q);
    var s = Math.min(state.stage, p.S - 1);
    var key = function (q) {
      if (state.sort === "mean") return p.meanCons[q];
      if (state.sort === "stage") return s > 0 ? p.iouPrev[s * p.q + q] : 0;
      return q;
    };
    qs.sort(function (a, b) {
      var ma = p.finalGT[a] >= 0 ? 0 : 1, mb = p.finalGT[b] >= 0 ? 0 : 1;
      if (ma !== mb) return ma - mb;
      var ka = key(a), kb = key(b);
      if (ka < 0) ka = 1e9; if (kb < 0) kb = 1e9; // undefined last
      return ka !== kb ? ka - kb : a - b;
    });
    if (!state.unmatched) qs = qs.filter(function (q) { return p.finalGT[q] >= 0; });
    return qs;
  }

  function cellLabel(p, s, q) {
    var k = s * p.q + q;
    var t = "query " + q + ", stage " + s + " (" + layers(p.layers[s]) + "): " + className(p.cls[k]) + " " + pct(p.score[k]);
    if (s > 0) t += ", IoU with previous stage " + pct(p.iouPrev[k]);
    return t;
  }

  var cellPx = 64;

  // fitCells sizes a model's cells so that its S stages and the GT column
  // fill its width (between 36 and 88 CSS pixels; narrower screens
  // scroll the grid sideways), and the canvases to match the screen.
  var LABEL_PX = 70, GAP_PX = 6;
  function fitCells(sec, S) {
    var w = sec.clientWidth;
    var cell = Math.max(36, Math.min(88, Math.floor((w - LABEL_PX) / (S + 1)) - GAP_PX));
    sec.style.setProperty("--cell", cell + "px");
    sec._S = S;
    cellPx = Math.max(48, Math.min(160, Math.round(cell * (window.devicePixelRatio || 1))));
  }
  var resizer = new ResizeObserver(function () {
    document.querySelectorAll("#v-models section.model").forEach(function (sec) { if (sec._S) fitCells(sec, sec._S); });
  });

  function grid(m, p) {
    var color = function (q) { return ROW_COLORS[q % ROW_COLORS.length]; };
    var t = h("table", { "class": "grid", "data-model": m });
    var hr = h("tr", null, h("th", { scope: "col", "class": "q" }, "query"));
    for (var s = 0; s < p.S; s++) {
      (function (s) {
        hr.appendChild(h("th", { scope: "col", "data-stage": s, "class": s === state.stage ? "sel" : null },
          h("button", { type: "button", title: "stage " + s + " (" + layers(p.layers[s]).replace("layer", "decoder layer") + " applied)", onclick: function () { setStage(s); } },
            String(p.layers[s]))));
      })(s);
    }
    hr.appendChild(h("th", { scope: "col", title: "the GT segment matched at the last stage" }, "GT"));
    t.appendChild(h("thead", null, hr, h("tr", null, h("th", { "class": "q" }), h("th", { colspan: p.S, "class": "layers" }, h("small", { text: "decoder layers applied; under each mask its IoU with the previous stage, %" })), h("th"))));
    var tb = h("tbody");
    var prevMatched = true;
    rowOrder(p).forEach(function (q) {
      var g = p.finalGT[q];
      var tr = h("tr", { "data-query": q, "class": g >= 0 ? "matched" : "unmatched" });
      if (prevMatched && g < 0) tr.className += " sep";
      prevMatched = g >= 0;
      var last = (p.S - 1) * p.q + q;
      tr.appendChild(h("th", { scope: "row", "class": "q", title: "mean consecutive IoU " + pct(p.meanCons[q]) },
        "q" + q,
        h("span", { "class": "cls", text: g >= 0 ? "→ " + className(p.gt[g].cls) : className(p.cls[last]) })));
      for (var s = 0; s < p.S; s++) {
        (function (s) {
          var k = s * p.q + q;
          var cv = lazyCanvas(p, s, q, color(q));
          var low = s > 0 && p.iouPrev[k] >= 0 && p.iouPrev[k] < 500;
          var btn = h("button", { type: "button", "class": "cell", "data-stage": s, "data-query": q, "aria-label": cellLabel(p, s, q), "aria-pressed": "false",
            onclick: function () { state.sel[m] = q; setStage(s); },
            onmouseenter: function () { detail(m, p, s, q); },
            onfocus: function () { detail(m, p, s, q); } },
            cv, h("span", { "class": "iou" + (low ? " low" : ""), text: s > 0 ? pct0(p.iouPrev[k]) : "\u00a0" }));
          tr.appendChild(h("td", { "data-stage": s, "class": s === state.stage ? "selstage" : null }, btn));
        })(s);
      }
      var gtd = h("td", { "class": "gtcol" });
      if (g >= 0) {
        var gc = lazyCanvas(p, -1, q, GT_COLOR);
        gtd.appendChild(h("span", { "class": "cell", role: "img", "aria-label": "GT segment " + g + ": " + className(p.gt[g].cls), title: "GT segment " + g + ": " + className(p.gt[g].cls) }, gc,
          h("span", { "class": "iou", text: "GT " + g })));
      }
      tr.appendChild(gtd);
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    t.addEventListener("mouseleave", function () { var q = state.sel[m]; detail(m, p, Math.min(state.stage, p.S - 1), q); });
    return t;
  }

  function detail(m, p, s, q) {
    var box = document.getElementById("detail-" + m);
    if (!box || q == null) return;
    var k = s * p.q + q, g = p.finalGT[q], mt = p.matched[k];
    var cv = box.querySelector("canvas");
    drawCell(cv, p, s, q, ROW_COLORS[q % ROW_COLORS.length]);
    var rows = [
      ["query", "q" + q + (g >= 0 ? ", matched at the last stage to GT " + g + " (" + className(p.gt[g].cls) + ")" : ", not matched at the last stage")],
      ["stage", s + " (" + layers(p.layers[s]).replace("layer", "decoder layer") + ")"],
      ["class", className(p.cls[k]) + ", score " + pct(p.score[k])],
      ["IoU, previous stage", s > 0 ? pct(p.iouPrev[k]) : "– (first stage)"],
      ["IoU, last stage", pct(p.iouFinal[k])],
      ["IoU, its GT", g >= 0 ? pct(p.iouGT[k]) : "– (no GT)"],
      ["matched here to", mt >= 0 ? "GT " + mt + " (" + className(p.gt[mt].cls) + ")" + (mt === g ? "" : " — not its final GT") : "no GT segment"],
      ["next layer attends", p.attn[s] ? (p.unblocked[k] ? "everywhere (row was fully blocked)" : pct(1000 - p.blocked[k]) + " of the map") : "– (no next masked-attention layer)"]
    ];
    var dl = h("dl", { "aria-live": "polite" });
    rows.forEach(function (r) { dl.appendChild(h("dt", { text: r[0] })); dl.appendChild(h("dd", { text: r[1], "data-field": r[0] })); });
    box.replaceChild(dl, box.querySelector("dl"));
    box.setAttribute("data-stage", s);
    box.setAttribute("data-query", q);
  }

  // select updates the selected stage column and cells without redrawing.
  function select() {
    app.setAttribute("data-stage", state.stage);
    state.models.forEach(function (m) {
      var p = panelOf(m);
      var t = app.querySelector('table.grid[data-model="' + m + '"]');
      if (!p || !t) return;
      var s = Math.min(state.stage, p.S - 1);
      t.querySelectorAll("thead th[data-stage]").forEach(function (th) { th.classList.toggle("sel", +th.getAttribute("data-stage") === s); });
      t.querySelectorAll("td[data-stage]").forEach(function (td) { td.classList.toggle("selstage", +td.getAttribute("data-stage") === s); });
      t.querySelectorAll(".cell[data-stage]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(+b.getAttribute("data-stage") === s && +b.getAttribute("data-query") === state.sel[m]));
      });
      detail(m, p, s, state.sel[m]);
    });
  }

  function render() {
    bump();
    io.disconnect();
    visible.clear();
    app.setAttribute("data-ckpt", state.ckpt);
    app.setAttribute("data-image", state.image);
    app.setAttribute("data-models", state.models.join(","));
    var box = document.getElementById("v-models");
    box.textContent = "";
    state.models.forEach(function (m) {
      var mod = V.models[m];
      var sec = h("section", { "class": "model", "data-model": m, "aria-label": mod.name });
      sec.appendChild(h("h3", null, mod.name + " — " + V.checkpoints[state.ckpt].label + ", image " + V.images[state.image].index));
      var p = panelOf(m);
      if (!p) {
        sec.appendChild(h("p", { "class": "nopanel", text: "No trace of " + mod.name + " at this checkpoint." }));
        box.appendChild(sec);
        return;
      }
      box.appendChild(sec);
      fitCells(sec, p.S);
      var order = rowOrder(p);
      if (state.sel[m] == null || order.indexOf(state.sel[m]) < 0) state.sel[m] = order.length ? order[0] : 0;
      var cv = h("canvas", { width: 256, height: 256, "aria-hidden": "true" });
      sec.appendChild(h("div", { "class": "detail", id: "detail-" + m }, cv, h("dl")));
      sec.appendChild(h("div", { "class": "grid-wrap", tabindex: "-1" }, grid(m, p)));
    });
    if (state.stage >= stagesOf()) state.stage = Math.max(0, stagesOf() - 1);
    select();
  }

  function keys(e) {
    var t = e.target, tag = t && t.tagName;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && t.type !== "checkbox")) return;
    var r = app.getBoundingClientRect();
    if (r.bottom < 0 || r.top > window.innerHeight) return; // the viewer is off screen
    switch (e.key) {
      case "ArrowLeft": moveStage(-1); break;
      case "ArrowRight": moveStage(1); break;
      case "ArrowUp": moveImage(-1); break;
      case "ArrowDown": moveImage(1); break;
      case "Home": setStage(0); break;
      case "End": setStage(Math.max(0, stagesOf() - 1)); break;
      default: return;
    }
    e.preventDefault();
  }

  function start() {
    state.models = V.models.map(function (_, i) { return i; }).slice(0, 2);
    state.ckpt = V.checkpoints.length - 1;
    // Start on the last checkpoint that has a panel for the first model.
    for (var c = V.checkpoints.length - 1; c >= 0; c--) {
      if (V.panels.some(function (p) { return p.c === c && p.m === state.models[0]; })) { state.ckpt = c; break; }
    }
    var first = V.panels.filter(function (p) { return p.m === state.models[0] && p.c === state.ckpt; })[0];
    state.stage = first ? first.S - 1 : 0;
    app.textContent = "";
    app.appendChild(controls());
    app.appendChild(h("div", { "class": "models", id: "v-models" }));
    render();
    resizer.observe(document.getElementById("v-models"));
    document.addEventListener("keydown", keys);
    app.setAttribute("data-state", "ready");
    performance.mark("viewer-ready");
    loadRest(1);
  }

  load().then(start, function (err) {
    app.setAttribute("data-state", "error");
    app.textContent = "";
    app.appendChild(h("p", { "class": "note", text: "The mask viewer could not be loaded in this browser (" + err + "). It needs DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later)." }));
  });
})();
