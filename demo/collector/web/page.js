// The demo collector's list page: it refreshes its table every 5 s in place (the filter, the
// scroll position and what is typed stay), and a click anywhere on a row opens that call.
// Everything it inserts is the server's own escaped HTML, parsed, never a value of a call.
"use strict";
(function () {
  const live = document.getElementById("live");
  async function refresh() {
    if (!live || !live.checked || document.hidden) return;
    try {
      const r = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (!r.ok) return;
      const next = new DOMParser().parseFromString(await r.text(), "text/html");
      for (const id of ["summary", "calls"]) {
        const old = document.getElementById(id), neu = next.getElementById(id);
        if (old && neu) old.replaceWith(document.adoptNode(neu));
      }
    } catch (e) {
      // The collector is restarting or gone: try again on the next tick.
    }
  }
  setInterval(refresh, 5000);
  document.addEventListener("click", (e) => {
    const tr = e.target.closest("tr.call");
    if (tr && !e.target.closest("a") && !window.getSelection().toString()) location.href = tr.dataset.href;
  });
})();
