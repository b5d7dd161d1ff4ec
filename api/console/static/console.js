// Live regions: an element with data-live="<url>" is re-fetched every data-interval ms (default 2000)
// and its contents replaced by the server's fragment. No framework; plain fetch.
(function () {
  "use strict";
  function refresh(el) {
    if (el.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
    fetch(el.dataset.live, {headers: {"X-Console-Live": "1"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        el.innerHTML = html;
        el.querySelectorAll("pre.tail").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
        el.dataset.refreshed = String(Date.now());
      })
      .catch(function () { /* the next tick tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      setInterval(function () { refresh(el); }, Number(el.dataset.interval || 2000));
    });
    document.querySelectorAll("pre.tail").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
    document.addEventListener("submit", function (ev) {
      var message = ev.target.dataset.confirm;
      if (message && !window.confirm(message)) ev.preventDefault();
    });
  });
})();
