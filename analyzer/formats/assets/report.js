/* skbdrop report: sortable and filterable tables, search, keyboard navigation.
   Works from file:// (no fetch: the search index is a script that sets a global). */
(function () {
  "use strict";
  var $ = function (s, r) { return (r || document).querySelector(s); };
  var $$ = function (s, r) { return Array.prototype.slice.call((r || document).querySelectorAll(s)); };

  /* --- sortable tables ------------------------------------------------------------ */
  function cellKey(td) {
    var v = td.getAttribute("data-sort");
    if (v === null) v = td.textContent.trim();
    var n = Number(v);
    return (v !== "" && !isNaN(n)) ? n : v.toLowerCase();
  }
  function sortBy(table, col, th) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    $$("thead th", table).forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
      var r = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
      return dir === "ascending" ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  $$("table.sortable").forEach(function (table) {
    $$("thead th", table).forEach(function (th, i) {
      var b = $("button", th);
      if (b) b.addEventListener("click", function () { sortBy(table, i, th); });
    });
  });

  /* --- filters -------------------------------------------------------------------- */
  $$("input[data-filter]").forEach(function (inp) {
    var table = document.getElementById(inp.getAttribute("data-filter"));
    if (!table) return;
    inp.addEventListener("input", function () {
      var q = inp.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.hidden = q !== "" && r.cells[0].textContent.toLowerCase().indexOf(q) < 0 &&
          r.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });

  /* --- search --------------------------------------------------------------------- */
  var q = $("#q"), list = $("#qres"), body = document.body;
  var loading = false, sel = -1, shown = [];
  function loadIndex(then) {
    if (window.SKBDROP_SEARCH) { then(); return; }
    if (loading) return;
    loading = true;
    var s = document.createElement("script");
    s.src = body.getAttribute("data-search");
    s.onload = function () { loading = false; then(); };
    s.onerror = function () { loading = false; };
    document.head.appendChild(s);
  }
  function score(name, term) {
    var n = name.toLowerCase(), i = n.indexOf(term);
    if (i < 0) return -1;
    var base = n.lastIndexOf("/") + 1;
    if (n === term || n.slice(base) === term) return 0;
    if (i === 0 || i === base) return 1;
    return 2 + (n.length - term.length) / 1000;
  }
  function render() {
    var term = q.value.trim().toLowerCase();
    list.innerHTML = ""; sel = -1; shown = [];
    if (!term || !window.SKBDROP_SEARCH) { list.hidden = true; q.setAttribute("aria-expanded", "false"); return; }
    var hits = [];
    window.SKBDROP_SEARCH.entries.forEach(function (e) {
      var s = score(e[1], term);
      if (s >= 0) hits.push([s, e]);
    });
    hits.sort(function (a, b) { return a[0] - b[0] || (a[1][1] < b[1][1] ? -1 : 1); });
    var base = body.getAttribute("data-search-base");
    hits.slice(0, 40).forEach(function (h, i) {
      var e = h[1], li = document.createElement("li"), a = document.createElement("a");
      li.setAttribute("role", "option"); li.id = "qr" + i;
      a.href = base + e[3];
      var k = document.createElement("span"); k.className = "kind"; k.textContent = e[0];
      var nm = document.createElement("span"); nm.className = "name"; nm.textContent = e[1];
      a.appendChild(k); a.appendChild(nm);
      if (e[2]) { var d = document.createElement("span"); d.className = "det"; d.textContent = e[2]; a.appendChild(d); }
      li.appendChild(a); list.appendChild(li); shown.push(li);
    });
    if (!hits.length) { var li = document.createElement("li"); li.textContent = "No match"; li.className = "muted"; li.style.padding = "6px 8px"; list.appendChild(li); }
    list.hidden = false; q.setAttribute("aria-expanded", "true");
  }
  function move(d) {
    if (!shown.length) return;
    if (sel >= 0) shown[sel].removeAttribute("aria-selected");
    sel = (sel + d + shown.length) % shown.length;
    shown[sel].setAttribute("aria-selected", "true");
    q.setAttribute("aria-activedescendant", shown[sel].id);
    shown[sel].scrollIntoView({ block: "nearest" });
  }
  if (q) {
    q.addEventListener("focus", function () { loadIndex(render); });
    q.addEventListener("input", function () { loadIndex(render); });
    q.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowDown") { move(1); ev.preventDefault(); }
      else if (ev.key === "ArrowUp") { move(-1); ev.preventDefault(); }
      else if (ev.key === "Enter") {
        var t = shown[sel >= 0 ? sel : 0];
        if (t) { window.location.href = $("a", t).href; ev.preventDefault(); }
      } else if (ev.key === "Escape") { q.value = ""; render(); q.blur(); }
    });
    document.addEventListener("click", function (ev) { if (!ev.target.closest(".search")) list.hidden = true; });
  }

  /* --- keyboard: / search, n/p next/previous site, u up ----------------------------- */
  var sites = $$("pre.src .site"), cur = -1;
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) return;
    if (ev.key === "/" || ev.key === "s") { if (q) { q.focus(); ev.preventDefault(); } }
    else if ((ev.key === "n" || ev.key === "j" || ev.key === "p" || ev.key === "k") && sites.length) {
      cur = (ev.key === "n" || ev.key === "j") ? Math.min(cur + 1, sites.length - 1) : Math.max(cur - 1, 0);
      sites[cur].scrollIntoView({ block: "center" });
      if (sites[cur].id) history.replaceState(null, "", "#" + sites[cur].id);
    } else if (ev.key === "u") {
      var c = $$(".crumbs a"); if (c.length) window.location.href = c[c.length - 1].href;
    }
  });

  /* --- #L123 for lines without an id (only targeted lines carry one) ------------------ */
  function gotoLine() {
    var m = /^#L(\d+)$/.exec(window.location.hash);
    if (!m || document.getElementById("L" + m[1])) return;
    var pre = $("pre.src:not(.sparse)");
    if (!pre) return;
    var lines = $$(":scope > i", pre), el = lines[Number(m[1]) - 1];
    if (el) { el.id = "L" + m[1]; el.scrollIntoView({ block: "center" }); }
  }
  window.addEventListener("hashchange", gotoLine);
  gotoLine();
})();
