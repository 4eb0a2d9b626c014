/* graphengine backprop explorer: steps through one run, forward then backward.
   Reads the page model from <script id="explorer-data">; needs nothing from the network. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  var PAGE = DATA.page;
  var nodes = {}, edges = {};
  PAGE.nodes.forEach(function (n) { nodes[n.id] = n; });
  PAGE.edges.forEach(function (e) { edges[e.id] = e; });
  var steps = PAGE.steps, total = steps.length, forwardCount = PAGE.forward_steps;
  var edgeStep = {};
  steps.forEach(function (s, k) { (s.edges || []).forEach(function (key) { edgeStep[key] = k + 1; }); });
  var state = { step: 0, selected: null, timer: null, collapsed: {} };
  var overlay = { heat: false, check: false, memory: false };
  var $ = function (id) { return document.getElementById(id); };
  var slider = $("slider");
  slider.max = String(total);

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(2) + " MiB";
  }
  function shapes(group) {
    return group ? group.querySelectorAll(":scope > path, :scope > polygon, :scope > ellipse") : [];
  }
  function setClass(element, name, on) { if (element) element.classList.toggle(name, !!on); }
  function svgEl(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function forEachPane(fn) { ["f", "b"].forEach(fn); }
  function shownValue(n) { return n.forward_step !== undefined && state.step >= n.forward_step; }
  function shownGrad(n) { return n.backward_step !== undefined && state.step >= n.backward_step; }

  // ------------------------------------------------------------------ one pane's SVG
  // Done once for each SVG: the panes' own and every folded layout swapped in later.
  function setupSvg(svg) {
    // remember Graphviz's own colours so overlays can be switched off again
    svg.querySelectorAll(".node, .edge").forEach(function (g) {
      shapes(g).forEach(function (s) {
        s.dataset.fill = s.getAttribute("fill") || "";
        s.dataset.stroke = s.getAttribute("stroke") || "";
      });
      g.querySelectorAll("text").forEach(function (t) { t.dataset.fill = t.getAttribute("fill") || ""; });
    });
    // cross-linking: hovering a node or an edge outlines its partner in the other pane
    svg.querySelectorAll("g.node, g.edge").forEach(function (g) {
      var m = /^([fb])-(.+)$/.exec(g.id);
      if (!m) return;
      var partner = (m[1] === "f" ? "b-" : "f-") + m[2];
      g.addEventListener("mouseenter", function () { setClass(g, "linked", true); setClass($(partner), "linked", true); });
      g.addEventListener("mouseleave", function () { setClass(g, "linked", false); setClass($(partner), "linked", false); });
    });
  }
  function fitSvg(svg) {  // a diagram that would shrink below 70 % to fit its pane keeps its natural size (and scrolls)
    var box = svg.closest(".scroll");
    if (box) setClass(svg, "natural", box.clientWidth / svg.width.baseVal.value < 0.7);
  }
  function paneSvg(p) { return document.querySelector("#pane-" + (p === "f" ? "forward" : "backward") + " .pane-svg"); }

  // ------------------------------------------------------------------ stepping
  function render() {
    var step = state.step, current = step > 0 ? steps[step - 1] : null;
    PAGE.nodes.forEach(function (n) {
      var isCurrent = current && current.node === n.id;
      var isInput = current && current.phase === "forward" && nodes[current.node].inputs.indexOf(n.id) >= 0;
      forEachPane(function (p) {
        var g = $(p + "-n" + n.id);
        if (!g) return;
        setClass(g, "current", isCurrent);
        setClass(g, "input-of-current", isInput && p === "f");
        setClass(g, "not-yet", p === "f" ? !shownValue(n) : (n.grad && !shownGrad(n)));
      });
      setClass($("f-n" + n.id + "-v"), "hidden", !shownValue(n));
      setClass($("b-n" + n.id + "-g"), "hidden", !shownGrad(n));
      badge(n);
    });
    PAGE.edges.forEach(function (e) {
      var arrived = step >= edgeStep[e.id];
      setClass($("b-e" + e.id + "-l"), "hidden", !arrived);
      var g = $("b-e" + e.id);
      setClass(g, "waiting", !arrived);
      setClass(g, "flowing", current && current.phase === "backward" && (current.edges || []).indexOf(e.id) >= 0);
    });
    slider.value = String(step);
    $("counter").textContent = "step " + step + " of " + total + (step === 0 ? " (start)" :
      step <= forwardCount ? " · forward" : " · backward");
    $("status").innerHTML = describe(current);
    applyHeat();
    applyMemory();
    markCollapsedCurrent(current);
    if (current) reveal(current.node);
    if (state.selected) showPanel(state.selected);
  }

  function describe(s) {
    if (!s) {
      return "Start: nothing computed yet. Press &#x2192; to run the forward pass node by node" +
        (PAGE.target ? ", then the backward pass from <b>" + esc(PAGE.target) + "</b>." : ".");
    }
    var n = nodes[s.node];
    if (s.phase === "forward") {
      var what = n.kind === "op" ? esc(n.op) + "(" + n.inputs.map(function (i) { return esc(nodes[i].name); }).join(", ") + ")"
        : n.kind;
      return "<b>forward</b> · <b>" + esc(n.name) + "</b> = " + what + " &rarr; <span class='value'>" +
        esc(n.value ? n.value.lines.join(" ") : n.note) + "</span>";
    }
    var text = "<b>backward</b> · gradient of <b>" + esc(PAGE.target) + "</b> w.r.t. <b>" + esc(n.name) + "</b> = " +
      esc(n.grad.lines.join(" "));
    if (s === steps[forwardCount]) text += " (the seed: d" + esc(PAGE.target) + "/d" + esc(PAGE.target) + " = 1)";
    var sent = (s.edges || []).map(function (key) {
      var e = edges[key];
      return "to <b>" + esc(nodes[e.src].name) + "</b>: " + esc(e.label.join(" "));
    });
    if (sent.length) text += "; sends " + sent.join("; ");
    return text;
  }

  function badge(n) {
    var g = $("b-n" + n.id);
    if (!g) return;
    var old = g.querySelector(".badge");
    if (old) old.remove();
    var received = n.received || [];
    if (received.length < 2 || shownGrad(n)) return;
    var arrived = received.filter(function (key) { return state.step >= edgeStep[key]; });
    if (!arrived.length) return;
    var sums = n.partial_sums, last = sums[arrived.length - 1];
    var text = "Σ " + arrived.length + " of " + received.length + ": " + last.lines.join(" ");
    var box = g.getBBox();
    var b = svgEl("g", { "class": "badge" });
    var t = svgEl("text", { x: box.x + 4, y: box.y + box.height + 13 });
    t.textContent = text.length > 60 ? text.slice(0, 59) + "…" : text;
    b.appendChild(svgEl("rect", { x: box.x, y: box.y + box.height + 2, width: Math.max(box.width, 7 * t.textContent.length),
      height: 15, rx: 3 }));
    b.appendChild(t);
    g.appendChild(b);
  }

  function drawnAs(p, id) {  // the node's group, or the box of the folded scope it is drawn in
    var g = $(p + "-n" + id);
    if (g) return g;
    var scope = PAGE.scopes.filter(function (s) { return layout.folded[s.index] && s.members.indexOf(id) >= 0; })[0];
    return scope ? $(p + "-box" + scope.index) : null;
  }
  function reveal(id) {  // scroll each pane (not the page) so that the node is in view
    forEachPane(function (p) {
      var g = drawnAs(p, id), box = g && g.closest(".scroll");
      if (!g || !box || g.classList.contains("hidden-by-scope")) return;
      var r = g.getBoundingClientRect(), b = box.getBoundingClientRect();
      if (r.left < b.left || r.right > b.right) box.scrollLeft += (r.left + r.right) / 2 - (b.left + b.right) / 2;
      if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += (r.top + r.bottom) / 2 - (b.top + b.bottom) / 2;
    });
  }
  function go(k) {
    state.step = Math.max(0, Math.min(total, k));
    render();
  }
  function play() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; $("play").innerHTML = "&#x25B6; play"; return; }
    if (state.step >= total) go(0);
    $("play").innerHTML = "|| pause";
    state.timer = setInterval(function () {
      if (state.step >= total) { play(); return; }
      go(state.step + 1);
    }, 900);
  }
  $("first").onclick = function () { go(0); };
  $("prev").onclick = function () { go(state.step - 1); };
  $("next").onclick = function () { go(state.step + 1); };
  $("last").onclick = function () { go(total); };
  $("play").onclick = play;
  slider.addEventListener("input", function () { go(parseInt(slider.value, 10)); });
  document.addEventListener("keydown", function (ev) {
    if (ev.target === slider || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var tag = ev.target.tagName;  // space and enter on a button or a checkbox keep their own meaning
    if ((ev.key === " " || ev.key === "Enter") && (tag === "BUTTON" || tag === "INPUT")) return;
    if (ev.key === "ArrowRight") { go(state.step + 1); ev.preventDefault(); }
    else if (ev.key === "ArrowLeft") { go(state.step - 1); ev.preventDefault(); }
    else if (ev.key === "Home") { go(0); ev.preventDefault(); }
    else if (ev.key === "End") { go(total); ev.preventDefault(); }
    else if (ev.key === " ") { play(); ev.preventDefault(); }
    else if (ev.key === "Escape") { state.selected = null; $("panel-body").innerHTML = ""; }
  });

  // ------------------------------------------------------------------ panel
  function tensorHtml(view, cls) {
    if (!view) return "";
    var head = "<div class='meta'>" + esc(view.shape_text) + " " + esc(view.dtype) + " · " + view.size +
      " element" + (view.size === 1 ? "" : "s") + " · " + bytes(view.bytes) + "</div>";
    if (view.kind === "full") return head + numbersTable(view, cls);
    var out = head;
    if (view.kind === "image") {
      var width = Math.min(320, Math.max(view.image_width * 2, 120));
      out += "<img class='tensor' alt='" + esc(view.image_note) + "' src='" + view.image + "' width='" + width + "'>" +
        "<div class='meta'>" + esc(view.image_note) + "; colours: " + esc(view.image_scale.map) + " from " +
        esc(view.image_scale.low) + " to " + esc(view.image_scale.high) + "</div>";
    }
    return out + histogramHtml(view) + statsHtml(view, cls);
  }
  function numbersTable(view, cls) {
    var nums = view.numbers, shape = view.shape;
    var cols = shape.length >= 1 ? shape[shape.length - 1] : 1;
    if (shape.length === 0 || cols === 0) cols = Math.max(1, nums.length);
    var rows = [];
    for (var i = 0; i < nums.length; i += cols) {
      rows.push("<tr>" + nums.slice(i, i + cols).map(function (v) { return "<td class='num'>" + esc(v) + "</td>"; }).join("") + "</tr>");
    }
    return "<table class='numbers " + cls + "' data-shape='" + esc(JSON.stringify(shape)) + "'>" + rows.join("") + "</table>";
  }
  function statsHtml(view, cls) {
    var s = view.stats || {};
    var items = ["mean", "std", "min", "max", "mean_abs"].filter(function (k) { return s[k] !== undefined; })
      .map(function (k) { return "<td>" + k.replace("_", " ") + "</td><td class='num stat " + cls + "' data-stat='" + k + "'>" + esc(s[k]) + "</td>"; });
    var rows = [];
    for (var i = 0; i < items.length; i += 2) rows.push("<tr>" + items.slice(i, i + 2).join("") + "</tr>");
    var extra = "zeros " + s.zeros + (s.nan ? " · <span class='bad'>NaN " + s.nan + "</span>" : "") +
      (s.inf ? " · <span class='bad'>Inf " + s.inf + "</span>" : "");
    return "<table class='facts stats'>" + rows.join("") + "</table><div class='meta'>" + extra + "</div>";
  }
  function histogramHtml(view) {
    var h = view.histogram;
    if (!h || !h.counts.length) return "";
    var max = Math.max.apply(null, h.counts) || 1, w = 300, ht = 60, bw = w / h.counts.length;
    var bars = h.counts.map(function (c, i) {
      var y = ht - Math.round(ht * c / max);
      return "<rect x='" + (i * bw).toFixed(1) + "' y='" + y + "' width='" + (bw - 1).toFixed(1) + "' height='" + (ht - y) +
        "' fill='#64748b'><title>" + c + "</title></rect>";
    }).join("");
    return "<svg class='hist' width='" + w + "' height='" + (ht + 14) + "'>" + bars + "<text x='0' y='" + (ht + 12) +
      "' font-size='10'>" + esc(h.low) + "</text><text x='" + w + "' y='" + (ht + 12) + "' font-size='10' text-anchor='end'>" +
      esc(h.high) + "</text></svg>";
  }

  function showPanel(sel) {
    state.selected = sel;
    document.querySelectorAll("svg .selected").forEach(function (g) { g.classList.remove("selected"); });
    var html = sel.kind === "node" ? nodePanel(nodes[sel.id]) : edgePanel(edges[sel.id]);
    if (sel.kind === "node") forEachPane(function (p) { setClass($(p + "-n" + sel.id), "selected", true); });
    $("panel-body").innerHTML = html;
  }

  function nodePanel(n) {
    var facts = [["kind", n.kind + (n.output ? " (output)" : "")], ["op", n.op ? n.op + (n.attrs ? " (" + n.attrs + ")" : "") : "—"],
      ["shape", n.shape], ["dtype", n.dtype || "—"], ["scope", n.scope || "—"]];
    if (n.parameters !== undefined) facts.push(["parameters", String(n.parameters)]);
    if (n.forward_step !== undefined) facts.push(["forward step", String(n.forward_step)]);
    if (n.backward_step !== undefined) facts.push(["backward step", String(n.backward_step)]);
    var html = "<h3 id='panel-name'>" + esc(n.name) + "</h3><table class='facts' id='panel-facts'>" +
      facts.map(function (f) { return "<tr><td>" + f[0] + "</td><td data-fact='" + f[0] + "'>" + esc(f[1]) + "</td></tr>"; }).join("") +
      "</table><h4>formula and local derivative</h4><pre class='doc'>" + esc(n.doc) + "</pre>";
    html += "<h4>value</h4><div id='panel-value'>" + (n.value ? (shownValue(n) ? tensorHtml(n.value, "value") :
      "<span class='pending'>not computed yet: appears at step " + n.forward_step + "</span>") :
      "<span class='pending'>" + esc(n.note || "no value") + "</span>") + "</div>";
    if (n.kind !== "const") {
      html += "<h4>gradient of " + esc(PAGE.target || "—") + "</h4><div id='panel-grad'>" +
        (n.grad ? (shownGrad(n) ? tensorHtml(n.grad, "grad") :
          "<span class='pending'>not computed yet: appears at step " + n.backward_step + "</span>") :
          "<span class='pending'>" + esc(n.grad_note || "no gradient (no backward yet)") + "</span>") + "</div>";
    }
    var received = n.received || [];
    if (received.length) {
      html += "<h4>contributions received (" + received.length + ")</h4><ul id='panel-received'>" + received.map(function (key) {
        var e = edges[key], here = state.step >= edgeStep[key];
        return "<li data-edge='" + key + "'>from <a href='#' data-edge-link='" + key + "'>" + esc(nodes[e.dst].name) + "</a>: " +
          (here ? contributionHtml(e.contribution) : "<span class='pending'>arrives at step " + edgeStep[key] + "</span>") + "</li>";
      }).join("") + "</ul>" + (received.length > 1 ? "<div class='meta'>their sum is the gradient above</div>" : "");
    }
    var sent = (steps[(n.backward_step || 0) - 1] || {}).edges || [];
    if (n.backward_step && sent.length) {
      html += "<h4>sent back to its inputs</h4><ul id='panel-sent'>" + sent.map(function (key) {
        var e = edges[key];
        return "<li>to <a href='#' data-edge-link='" + key + "'>" + esc(nodes[e.src].name) + "</a>: " + esc(e.label.join(" ")) + "</li>";
      }).join("") + "</ul>";
    }
    html += checkHtml(DATA.gradcheck && DATA.gradcheck.nodes[String(n.id)]);
    html += memoryHtml(n);
    return html;
  }
  function contributionHtml(view) {
    if (view.kind === "full" && view.size <= 16) {
      return "<span class='contribution num-list'>" + view.numbers.map(function (v) { return "<span class='num'>" + esc(v) + "</span>"; })
        .join(", ") + "</span>";
    }
    return "<span class='contribution'>" + esc(view.lines.join(" ")) + "</span>";
  }
  function edgePanel(e) {
    var src = nodes[e.src], dst = nodes[e.dst], here = state.step >= edgeStep[e.id];
    var html = "<h3 id='panel-name'>" + esc(src.name) + " &rarr; " + esc(dst.name) + "</h3><div class='meta'>input " +
      e.position + " of " + esc(dst.op) + "; the gradient flows back from " + esc(dst.name) + " to " + esc(src.name) + "</div>" +
      "<h4>local derivative (" + esc(dst.op) + ")</h4><pre class='doc'>" + esc(dst.doc) + "</pre>";
    if (!here) return html + "<p class='pending'>the contribution arrives at step " + edgeStep[e.id] + "</p>";
    html += "<h4>upstream gradient (of " + esc(dst.name) + ")</h4>" + tensorHtml(dst.grad, "grad");
    if (e.local_text !== null) html += "<h4>local derivative</h4><div class='num' id='panel-local'>" + esc(e.local_text) + "</div>";
    else if (e.local) html += "<h4>local derivative (element by element)</h4>" + tensorHtml(e.local, "local");
    else html += "<h4>local derivative</h4><div class='meta'>a Jacobian (see the formula above): the contribution is not an element-wise product</div>";
    html += "<h4>contribution = upstream × local</h4><div id='panel-contribution'>" + tensorHtml(e.contribution, "contribution") + "</div>";
    html += checkHtml(DATA.gradcheck && DATA.gradcheck.edges[e.id]);
    return html;
  }
  function checkHtml(c) {
    if (!c || !overlay.check) return DATA.gradcheck && c ? "<div class='meta'>gradient check: turn on the overlay to see it</div>" : "";
    if (c.ok === null) return "<h4>gradient check</h4><div class='meta'>not checked: " + esc(c.error) + "</div>";
    return "<h4>gradient check</h4><div id='panel-check' class='" + (c.ok ? "good" : "bad") + "'>" +
      (c.ok ? "agrees" : "MISMATCH") + "</div><table class='facts'><tr><td>analytic</td><td class='num' data-check='analytic'>" +
      esc(c.analytic) + "</td></tr><tr><td>finite difference</td><td class='num' data-check='numeric'>" + esc(c.numeric) +
      "</td></tr><tr><td>difference</td><td>" + esc(c.difference) + "</td></tr></table><div class='meta'>" + esc(c.check) +
      "; " + esc(c.where) + "; along a random unit direction d, eps " + esc(DATA.gradcheck.eps) + ", tolerance " + esc(c.atol) +
      " + " + esc(c.rtol) + "·|value|</div>";
  }
  function memoryHtml(n) {
    var m = DATA.memory && DATA.memory.nodes[String(n.id)];
    if (!m || !overlay.memory) return "";
    var text = m.status === "value" ? bytes(m.bytes) + "; created at step " + m.born + ", " +
      (m.freed === null ? "kept to the end" : "freed at step " + m.freed) : m.status === "owned" ? bytes(m.bytes) : "";
    return "<h4>memory in a fetched run</h4><div class='meta'>" + esc(text) + (text ? "; " : "") + esc(m.why) + "</div>";
  }

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest("[data-edge-link]");
    if (link) { ev.preventDefault(); showPanel({ kind: "edge", id: link.getAttribute("data-edge-link") }); return; }
    var box = ev.target.closest(".collapsed-box, .folded-box");
    if (box) { toggleScope(parseInt(box.getAttribute("data-scope"), 10)); return; }
    var g = ev.target.closest("svg g.node, svg g.edge, svg g.cluster");
    if (!g) return;
    var m = /^[fb]-(n|e|c)(.+)$/.exec(g.id);
    if (!m) return;
    if (m[1] === "n") showPanel({ kind: "node", id: parseInt(m[2], 10) });
    else if (m[1] === "e" && edges[m[2]]) showPanel({ kind: "edge", id: m[2] });
    else if (m[1] === "c") toggleScope(parseInt(m[2], 10));
  });

  forEachPane(function (p) { var svg = paneSvg(p); if (svg) { setupSvg(svg); fitSvg(svg); } });
  document.querySelectorAll(".pane h2").forEach(function (h) {
    h.title = "click: switch between fitting the pane and the diagram's natural size";
    h.addEventListener("click", function () {
      h.parentNode.querySelectorAll(".pane-svg").forEach(function (s) { s.classList.toggle("natural"); });
    });
  });

  // ------------------------------------------------------------------ scopes
  // A folded set with a layout of its own (a <template data-folded>) swaps both panes'
  // SVGs, so the graph closes up around the box; the scopes folded beyond the largest
  // such set are hidden in place instead, under a box the size of their frame.
  var layouts = { "": {} };  // folded key -> pane -> its SVG (built once, kept)
  forEachPane(function (p) { layouts[""][p] = paneSvg(p); });
  var templates = {};
  document.querySelectorAll("#folded-layouts template[data-folded]").forEach(function (t) {
    var key = t.getAttribute("data-folded");
    (templates[key] = templates[key] || {})[t.getAttribute("data-pane")] = t;
  });
  var layout = { key: "", folded: {} };
  function insideFolded(scope, folded) {
    return PAGE.scopes.some(function (other) {
      return folded[other.index] && other.index !== scope.index && scope.path.indexOf(other.path + "/") === 0;
    });
  }
  function chooseLayout() {  // the largest folded set with a layout, of the outermost scopes folded now
    var wanted = PAGE.scopes.filter(function (s) { return state.collapsed[s.index] && !insideFolded(s, state.collapsed); })
      .map(function (s) { return s.index; });
    var best = "", size = 0;
    Object.keys(templates).forEach(function (key) {
      var set = key.split(",").map(Number);
      var within = set.every(function (i) { return wanted.indexOf(i) >= 0; });
      if (within && (set.length > size || (set.length === size && key < best))) { best = key; size = set.length; }
    });
    return best;
  }
  function useLayout(key) {
    if (key === layout.key) return;
    forEachPane(function (p) {
      var old = paneSvg(p);
      if (!old) return;
      layouts[key] = layouts[key] || {};
      var svg = layouts[key][p];
      if (!svg && templates[key] && templates[key][p]) {
        svg = document.importNode(templates[key][p].content, true).querySelector("svg");
        setupSvg(svg);
        layouts[key][p] = svg;
      }
      if (!svg) return;
      old.querySelectorAll(".linked").forEach(function (g) { g.classList.remove("linked"); });
      old.parentNode.replaceChild(svg, old);
      fitSvg(svg);
    });
    layout.key = key;
    layout.folded = {};
    if (key) key.split(",").forEach(function (i) { layout.folded[i] = true; });
  }
  function toggleScope(index) {
    var scope = PAGE.scopes[index];
    if (!scope) return;
    var on = !state.collapsed[index];
    if (on) state.collapsed[index] = true; else delete state.collapsed[index];
    applyScopes();
    applyCheck();
    render();
  }
  function applyScopes() {
    var hidden = {};
    useLayout(chooseLayout());
    document.querySelectorAll(".hidden-by-scope").forEach(function (e) { e.classList.remove("hidden-by-scope"); });
    document.querySelectorAll(".collapsed-box").forEach(function (e) { e.remove(); });
    PAGE.scopes.forEach(function (scope) {
      if (!state.collapsed[scope.index]) return;
      if (layout.folded[scope.index] || insideFolded(scope, layout.folded)) return;  // folded in the layout itself
      var parentFolded = PAGE.scopes.some(function (other) {
        return state.collapsed[other.index] && other.index !== scope.index && scope.path.indexOf(other.path + "/") === 0;
      });
      scope.members.forEach(function (id) { hidden[id] = true; });
      if (parentFolded) return;
      forEachPane(function (p) {
        var cluster = $(p + "-c" + scope.index);
        if (!cluster) return;
        var box = cluster.getBBox();
        var g = svgEl("g", { "class": "collapsed-box", "data-scope": scope.index, id: p + "-box" + scope.index });
        g.appendChild(svgEl("rect", { x: box.x, y: box.y, width: box.width, height: box.height, rx: 6 }));
        var t1 = svgEl("text", { x: box.x + 10, y: box.y + 20 });  // top left, where the frame's name was
        t1.textContent = scope.short + " (collapsed)";
        var t2 = svgEl("text", { x: box.x + 10, y: box.y + 36 });
        t2.textContent = scope.members.length + " nodes · " + scope.parameters + " parameters · click to expand";
        g.appendChild(t1); g.appendChild(t2);
        cluster.parentNode.appendChild(g);
      });
    });
    PAGE.scopes.forEach(function (scope) {
      var inside = scope.members.every(function (id) { return hidden[id]; });
      forEachPane(function (p) { if (inside) setClass($(p + "-c" + scope.index), "hidden-by-scope", true); });
    });
    Object.keys(hidden).forEach(function (id) {
      forEachPane(function (p) { setClass($(p + "-n" + id), "hidden-by-scope", true); });
    });
    PAGE.nodes.forEach(function (n) {
      n.inputs.forEach(function (src, position) {
        if (hidden[n.id] && hidden[src]) forEachPane(function (p) { setClass($(p + "-e" + n.id + "_" + position), "hidden-by-scope", true); });
      });
    });
  }
  function markCollapsedCurrent(current) {
    document.querySelectorAll(".collapsed-box, .folded-box").forEach(function (g) {
      var scope = PAGE.scopes[parseInt(g.getAttribute("data-scope"), 10)];
      setClass(g, "current", current && scope.members.indexOf(current.node) >= 0);
    });
  }

  // ------------------------------------------------------------------ overlays
  function applyHeat() {
    PAGE.nodes.forEach(function (n) {
      var g = $("b-n" + n.id);
      if (!g) return;
      var hot = overlay.heat && n.heat && shownGrad(n);
      shapes(g).forEach(function (s) { s.setAttribute("fill", hot ? n.heat : s.dataset.fill); });
      g.querySelectorAll("text").forEach(function (t) {
        if (hot) t.setAttribute("fill", n.heat_text); else if (t.dataset.fill) t.setAttribute("fill", t.dataset.fill);
        else t.removeAttribute("fill");
      });
    });
    PAGE.edges.forEach(function (e) {
      var g = $("b-e" + e.id);
      if (!g) return;
      var hot = overlay.heat && state.step >= edgeStep[e.id];
      shapes(g).forEach(function (s) {
        s.setAttribute("stroke", hot ? e.heat : s.dataset.stroke);
        if (s.tagName === "polygon") s.setAttribute("fill", hot ? e.heat : s.dataset.fill);
      });
    });
    legend();
  }
  function applyCheck() {
    document.querySelectorAll(".check-mark").forEach(function (e) { e.remove(); });
    var gc = DATA.gradcheck;
    PAGE.nodes.forEach(function (n) {
      var c = gc && gc.nodes[String(n.id)];
      forEachPane(function (p) {
        var g = $(p + "-n" + n.id);
        setClass(g, "check-bad", overlay.check && c && c.ok === false);
        if (overlay.check && c && c.ok !== null && g && p === "b") {
          var box = g.getBBox();
          var mark = svgEl("g", { "class": "check-mark" });
          var t = svgEl("text", { x: box.x + box.width - 2, y: box.y + 12, "text-anchor": "end", fill: c.ok ? "#15803d" : "#dc2626" });
          t.textContent = c.ok ? "✓" : "✗";
          mark.appendChild(t);
          g.appendChild(mark);
        }
      });
    });
    PAGE.edges.forEach(function (e) {
      var c = gc && gc.edges[e.id];
      setClass($("b-e" + e.id), "check-bad", overlay.check && c && c.ok === false);
    });
    legend();
  }
  function applyMemory() {
    var mem = DATA.memory;
    PAGE.nodes.forEach(function (n) {
      var m = mem && mem.nodes[String(n.id)], g = $("f-n" + n.id);
      var on = overlay.memory && m;
      var live = on && m.status === "value" && state.step >= m.born && (m.freed === null || state.step < m.freed);
      var freed = on && m.status === "value" && m.freed !== null && state.step >= m.freed;
      setClass(g, "mem-live", live);
      setClass(g, "mem-freed", freed);
      setClass(g, "mem-skipped", on && m.status === "skipped");
    });
    if (overlay.memory && mem) {
      var extra = " · <span id='memory-now'>a fetched run (fetch=[" + esc(mem.fetch.join(", ")) + "]) holds " +
        bytes(mem.live_bytes[state.step]) + " of values now</span> (peak " + bytes(mem.peak) + ")";
      $("status").innerHTML += extra;
    }
    legend();
  }
  function legend() {
    var parts = ["<span class='swatch' style='background:#dbeafe'></span>input <span class='swatch' style='background:#fef3c7'></span>param " +
      "<span class='swatch' style='background:#fff;border:1px solid #374151'></span>op <span class='swatch' style='background:#dcfce7'></span>output · " +
      "orange outline: the current step (dashed: its inputs) · purple: the same node in the other pane"];
    if (overlay.heat && PAGE.heat_legend.length) {
      parts.push("mean |gradient|: " + PAGE.heat_legend.map(function (t) {
        return "<span class='swatch' style='background:" + t.colour + "'></span>" + esc(t.label);
      }).join(" "));
    }
    if (overlay.check && DATA.gradcheck) {
      var results = Object.keys(DATA.gradcheck.nodes).map(function (k) { return DATA.gradcheck.nodes[k]; });
      var bad = results.filter(function (r) { return r.ok === false; }).length;
      var unchecked = results.filter(function (r) { return r.ok === null; }).length;
      parts.push("gradient check: <span id='check-summary'>" + (bad ? bad + " node(s) disagree with finite differences (red dashed)" :
        "every checked gradient agrees with finite differences (✓)") + "</span>" + (unchecked ? "; " + unchecked +
        " not checked (a kink such as relu at 0 or a tie in a max, or a random op: click them for why)" : ""));
    }
    if (overlay.memory && DATA.memory) parts.push("memory: green = value alive in a fetched run, faded = freed" + memChart());
    $("legend").innerHTML = parts.join("<br>");
  }
  function memChart() {
    var live = DATA.memory.live_bytes, peak = DATA.memory.peak || 1, w = 360, h = 40, bw = w / live.length;
    var bars = live.map(function (b, k) {
      var y = h - Math.round(h * b / peak);
      return "<rect x='" + (k * bw).toFixed(1) + "' y='" + y + "' width='" + Math.max(bw - 1, 1).toFixed(1) + "' height='" + (h - y) +
        "' fill='" + (k === state.step ? "#ea580c" : "#94a3b8") + "'><title>step " + k + ": " + bytes(b) + "</title></rect>";
    }).join("");
    return "<svg id='memchart' width='" + w + "' height='" + h + "'>" + bars + "</svg>";
  }
  function overlayToggle(id, key, apply) {
    var box = $(id);
    if (!box) return;
    box.checked = overlay[key];
    box.disabled = key === "check" ? !DATA.gradcheck : key === "memory" ? !DATA.memory : !PAGE.target;
    box.addEventListener("change", function () { overlay[key] = box.checked; apply(); render(); });
  }
  overlay.heat = !!DATA.options.heatmap && !!PAGE.target;
  overlay.check = !!DATA.gradcheck;
  overlay.memory = false;
  overlayToggle("ov-heat", "heat", applyHeat);
  overlayToggle("ov-check", "check", applyCheck);
  overlayToggle("ov-memory", "memory", applyMemory);

  (DATA.options.collapsed || []).forEach(function (i) { state.collapsed[i] = true; });
  applyScopes();
  applyCheck();
  go(DATA.options.start === "end" ? total : 0);
  window.explorer = { go: go, state: state, data: DATA, total: total, select: showPanel, toggleScope: toggleScope,
    layout: function () { return layout.key; } };
})();
