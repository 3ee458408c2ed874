// Dosewise staff pages: small progressive enhancements with fetch(); every page works without this file.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Today board: poll the counts endpoint and update the numbers in place.
  function pollCounts(section) {
    var url = section.getAttribute("data-counts-url");
    var seconds = parseInt(section.getAttribute("data-poll-seconds") || "15", 10);
    var status = section.querySelector("[data-counts-status]");
    // data-counts-now: the page left the guard's split (on hold, blocked) to this endpoint; the first answer
    // completes the counts rather than saying they changed.
    var filling = section.hasAttribute("data-counts-now");
    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (data) {
          var changed = false;
          section.querySelectorAll("[data-count]").forEach(function (el) {
            var key = el.getAttribute("data-count");
            if (key in data && el.textContent !== String(data[key])) { el.textContent = data[key]; changed = true; }
          });
          if (!status) { return; }
          if (filling) { filling = false; changed = false; }
          if (changed || status.getAttribute("data-stale")) {
            // The rows below were rendered before the change: offer a reload rather than reflowing under the cursor.
            status.setAttribute("data-stale", "1");
            status.textContent = "Counts changed at " + new Date().toLocaleTimeString() + ". ";
            var link = document.createElement("a");
            link.href = window.location.pathname;
            link.textContent = "Reload the board to see the rows";
            status.appendChild(link);
          } else {
            status.textContent = "Counts updated " + new Date().toLocaleTimeString();
          }
        })
        .catch(function () { if (status) { status.textContent = "Could not refresh counts; retrying."; } });
    }
    section.refreshCounts = refresh;
    if (filling) { refresh(); }
    window.setInterval(refresh, seconds * 1000);
  }

  // Patient search: POST the term (never in the URL) as you type, debounced; swap in the fragment.
  function liveSearch(form) {
    var input = form.querySelector('input[name="q"]');
    var target = document.getElementById("search-results");
    var timer = null;
    var seq = 0;
    function run() {
      var mine = ++seq;
      fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
        headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" }
      })
        .then(function (r) { return r.text(); })
        .then(function (html) { if (mine === seq) { target.innerHTML = html; } });
    }
    input.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(run, 250); });
    form.addEventListener("submit", function (e) { e.preventDefault(); window.clearTimeout(timer); run(); });
  }

  // Booking: show each window's free places for the chosen date and service; pick one with a radio.
  function booking(form) {
    var url = form.getAttribute("data-availability-url");
    var kind = form.querySelector("#kind");
    var plan = form.querySelector("#plan");
    var day = form.querySelector("#date");
    var box = form.querySelector("[data-availability]");
    function service() {
      if (kind.value === "dose" || kind.value === "injection") {
        if (!plan.value) {
          var opts = Array.prototype.filter.call(plan.options, function (o) { return o.value; });
          if (opts.length === 1) { plan.value = opts[0].value; }
        }
        var opt = plan.options[plan.selectedIndex];
        return opt ? opt.getAttribute("data-medication") : "";
      }
      return kind.value;
    }
    function text(tag, cls, content) {
      var el = document.createElement(tag);
      if (cls) { el.className = cls; }
      el.textContent = content;
      return el;
    }
    function load() {
      var svc = service();
      box.innerHTML = "";
      if (!day.value) { box.appendChild(text("p", "muted small", "Choose a date to see each window's free places.")); return; }
      if (!svc) { box.appendChild(text("p", "muted small", "Choose the plan this visit belongs to.")); return; }
      var previous = (form.querySelector('input[name="window"]:checked') || {}).value;
      fetch(url + "?date=" + encodeURIComponent(day.value) + "&service=" + encodeURIComponent(svc),
            { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          box.innerHTML = "";
          if (!data.results) { box.appendChild(text("p", "error", "Could not load availability.")); return; }
          if (!data.results.length) { box.appendChild(text("p", "error", data.closed || "Nothing offered that day.")); return; }
          var firstFree = null;
          data.results.forEach(function (row) {
            var id = "win-" + row.window_id;
            var label = document.createElement("label");
            label.className = "slot" + (row.remaining ? "" : " full");
            label.setAttribute("for", id);
            var radio = document.createElement("input");
            radio.type = "radio"; radio.name = "window"; radio.value = row.window_id; radio.id = id;
            radio.disabled = !row.remaining || row.ended;
            if (!radio.disabled && (String(row.window_id) === previous || (!previous && firstFree === null))) {
              radio.checked = true;
            }
            if (!radio.disabled && firstFree === null) { firstFree = radio; }
            label.appendChild(radio);
            var info = row.label + ": " + (row.ended ? "ended" : row.remaining ? row.remaining + " of " + row.capacity + " free" : "full");
            var span = text("span", "", info);
            span.setAttribute("data-remaining", row.remaining);
            label.appendChild(span);
            box.appendChild(label);
          });
        })
        .catch(function () { box.innerHTML = ""; box.appendChild(text("p", "error", "Could not load availability.")); });
    }
    [kind, plan, day].forEach(function (el) { el.addEventListener("change", load); });
    if (day.value) { load(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var counts = document.querySelector("[data-counts-url]");
    if (counts) { pollCounts(counts); }
    var search = document.querySelector("form[data-live-search]");
    if (search) { liveSearch(search); }
    // Check-in by MRN: after each scan the focus is back in the field; a refused number is selected, so the next
    // scan replaces it instead of being appended to it.
    var scanField = document.querySelector("[data-scan-field][autofocus]");
    if (scanField) { scanField.focus(); scanField.select(); }
    var book = document.querySelector("form[data-booking]");
    if (book) { booking(book); }
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) { if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); } });
    });
  });
})();
