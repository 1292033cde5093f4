// Tessera's web UI: the little that needs a script. Every page works without it.
//  - search as you type: the results of /search?…&fragment=1 replace #results (debounced),
//    and the address follows, so the URL stays shareable;
//  - selects marked data-autosubmit (the purpose) submit their form on change.
"use strict";
(function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  var form = document.getElementById("search-form");
  var results = document.getElementById("results");
  if (!form || !results) return;
  var timer = null, latest = 0;
  function refresh() {
    var params = new URLSearchParams(new FormData(form));
    var shown = "/search?" + params.toString();
    params.set("fragment", "1");
    var mine = ++latest;
    fetch("/search?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401) { window.location = shown; return null; }
        return r.text();
      })
      .then(function (html) {
        if (html === null || mine !== latest) return; // an older answer arriving late
        results.innerHTML = html; // server-rendered, escaped HTML
        history.replaceState(null, "", shown);
      })
      .catch(function () { /* the form still works: submitting reloads the page */ });
  }
  function soon() { clearTimeout(timer); timer = setTimeout(refresh, 200); }
  form.querySelectorAll("[data-live]").forEach(function (i) { i.addEventListener("input", soon); });
  form.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", refresh); });
  form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); refresh(); });
})();
